import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'smol-toml';
import { launchRuntime } from './runtime-lifecycle.js';
import type { RunningRuntime, RuntimeOptions } from './runtime-under-test.js';

export interface ContainerdOptions extends RuntimeOptions {
  /** containerd binary. Default: `containerd` from PATH (Debian's 1.6.x). */
  binary?: string;
}

/**
 * containerd's config for a bench: every path it would write to by default is moved under dir, except the shim
 * sockets, which containerd 1.6 always puts in /run/containerd/s/ (named by a hash that includes our socket path,
 * so they do not collide with a system containerd).
 */
export function containerdConfig(dir: string, opts: ContainerdOptions): string {
  const socket = join(dir, 'containerd.sock');
  return stringify({
    version: 2,
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    grpc: { address: socket },
    ttrpc: { address: `${socket}.ttrpc` },
    // Snapshotters this machine cannot run only add start-up noise.
    disabled_plugins: [
      'io.containerd.snapshotter.v1.aufs',
      'io.containerd.snapshotter.v1.btrfs',
      'io.containerd.snapshotter.v1.devmapper',
      'io.containerd.snapshotter.v1.zfs',
    ],
    plugins: {
      'io.containerd.internal.v1.opt': { path: join(dir, 'opt') },
      'io.containerd.grpc.v1.cri': {
        sandbox_image: opts.sandboxImage,
        // This VM has no CAP_SYS_RESOURCE: a negative oom_score_adj would fail container start.
        restrict_oom_score_adj: true,
        // Keep pod network namespaces under our state dir instead of /var/run/netns.
        netns_mounts_under_state_dir: true,
        stream_server_address: '127.0.0.1',
        stream_server_port: '0',
        containerd: {
          snapshotter: 'overlayfs',
          default_runtime_name: 'runc',
          runtimes: {
            runc: {
              runtime_type: 'io.containerd.runc.v2',
              options: { SystemdCgroup: false, Root: join(dir, 'runc') },
            },
          },
        },
        cni: { bin_dir: opts.cniBinDir, conf_dir: opts.cniConfDir, max_conf_num: 1 },
        registry: { config_path: opts.certsDir },
      },
    },
  });
}

export async function startContainerd(opts: ContainerdOptions): Promise<RunningRuntime> {
  const dir = await mkdtemp(join(opts.parentDir ?? '/var/tmp', 'bench-containerd-'));
  const socket = join(dir, 'containerd.sock');
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, containerdConfig(dir, opts));
  // Our shims are told to call back to our socket, so their argv names our dir and teardown finds them.
  return launchRuntime(dir, socket, opts.binary ?? 'containerd', ['--config', configFile], 'containerd.log');
}
