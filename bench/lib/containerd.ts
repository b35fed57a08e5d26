import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'smol-toml';
import { spawnDaemon, waitForSocket } from './daemon-process.js';
import { killTrees, listProcesses } from './processes.js';
import { unmountUnder } from './mounts.js';

export interface ContainerdOptions {
  /** Directory of hosts.toml files (containerd's `config_path`), e.g. mapping a loopback registry to http. */
  certsDir: string;
  cniConfDir: string;
  cniBinDir: string;
  sandboxImage: string;
  /** Parent of the temp directory holding root, state, socket and log. Default /var/tmp. */
  parentDir?: string;
  /** containerd binary. Default: `containerd` from PATH (Debian's 1.6.x). */
  binary?: string;
}

/** A containerd started for one benchmark run, isolated from any system containerd. */
export interface RunningContainerd {
  socket: string;
  /** `unix://` + socket, the form crictl and gRPC clients take. */
  endpoint: string;
  dir: string;
  logFile: string;
  /** Stop containerd, kill the shims it left, unmount everything under its dirs and delete them. */
  stop(): Promise<void>;
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

export async function startContainerd(opts: ContainerdOptions): Promise<RunningContainerd> {
  const dir = await mkdtemp(join(opts.parentDir ?? '/var/tmp', 'bench-containerd-'));
  const socket = join(dir, 'containerd.sock');
  const configFile = join(dir, 'config.toml');
  await writeFile(configFile, containerdConfig(dir, opts));
  const logFile = join(dir, 'containerd.log');
  const daemon = spawnDaemon(opts.binary ?? 'containerd', ['--config', configFile], logFile);

  const stop = async (): Promise<void> => {
    await daemon.terminate();
    // Shims outlive containerd by design; ours are the ones told to call back to our socket.
    const shims = (await listProcesses()).filter(
      (p) => p.argv.some((a) => a.includes('containerd-shim')) && p.argv.includes(socket),
    );
    await killTrees(shims.map((p) => p.pid));
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitForSocket(daemon, socket);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, endpoint: `unix://${socket}`, dir, logFile, stop };
}
