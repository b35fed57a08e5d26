import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import { launchRuntime } from './runtime-lifecycle.js';
import type { RunningRuntime, RuntimeOptions } from './runtime-under-test.js';

export interface BerthOptions extends RuntimeOptions {
  /** berthd's compiled entry point. Default: dist/daemon/main.js of this build. */
  entry?: string;
}

/** berthd's config for a bench: same registry, CNI and sandbox image as containerd gets, all state under dir. */
export function berthConfig(dir: string, opts: RuntimeOptions): string {
  return stringify({
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    grpc: { address: join(dir, 'berth.sock') },
    log: { level: 'warn' },
    cri: {
      sandbox_image: opts.sandboxImage,
      cgroup_driver: 'cgroupfs',
      registry: { config_path: opts.certsDir },
      cni: { conf_dir: opts.cniConfDir, bin_dirs: [opts.cniBinDir] },
    },
  });
}

/** Start berthd from this build. Throws, with berthd's log, when it is not built or does not come up. */
export async function startBerth(opts: BerthOptions): Promise<RunningRuntime> {
  // Compiled, this file is dist/bench/lib/berth.js; the daemon is dist/daemon/main.js.
  const entry = opts.entry ?? fileURLToPath(new URL('../../daemon/main.js', import.meta.url));
  if (!existsSync(entry)) throw new Error(`${entry} does not exist; run npm run build first`);
  const dir = await mkdtemp(join(opts.parentDir ?? '/var/tmp', 'bench-berth-'));
  const socket = join(dir, 'berth.sock');
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, berthConfig(dir, opts));
  return launchRuntime(dir, socket, process.execPath, [entry, '--config', configFile], 'berthd.log');
}
