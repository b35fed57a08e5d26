import path from 'node:path';
import type { SpecMount } from './runtime-spec.js';
import type { CriMount } from './cri-input.js';
import { invalidArgument } from '../../errors/errors.js';

/** Where the pod's shared files live on the host; the sandbox writes them before any container is created. */
export interface SandboxFiles {
  hostname?: string;
  hosts: string;
  resolvConf: string;
  /** The pod's /dev/shm (a tmpfs mounted by the sandbox); absent for host IPC, which uses the host's /dev/shm. */
  shm?: string;
}

const MESSAGE_PATH = '/dev/termination-log';

/** The mounts every container gets, after containerd's default spec. */
function defaultMounts(privileged: boolean): SpecMount[] {
  const ro = privileged ? [] : ['ro'];
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', ...ro] },
  ];
}

const PROPAGATION_OPTION = { PROPAGATION_PRIVATE: 'rprivate', PROPAGATION_HOST_TO_CONTAINER: 'rslave', PROPAGATION_BIDIRECTIONAL: 'rshared' } as const;

export interface MountPlan {
  mounts: SpecMount[];
  /** rslave/rshared when a CRI mount needs propagation from or to the host; runc then remounts / accordingly. */
  rootfsPropagation?: string;
  /** The host file behind /dev/termination-log, where the container's termination message is read from. */
  terminationMessageHostPath?: string;
}

/**
 * All mounts of a container: the defaults, the pod's shared files, the termination-message file, then the CRI
 * mounts, which replace any earlier mount at the same destination. Parents are mounted before children (sorted
 * by depth) so a CRI mount under /dev is not hidden by the /dev tmpfs.
 */
export function containerMounts(opts: {
  privileged: boolean;
  readonlyRootfs: boolean;
  sandbox: SandboxFiles;
  /** A berth-owned file to bind at /dev/termination-log when the CRI mounts bring none. */
  terminationLog?: string;
  criMounts: CriMount[];
}): MountPlan {
  const fileOpts = ['rbind', 'rprivate', opts.readonlyRootfs ? 'ro' : 'rw'];
  const byDest = new Map<string, SpecMount>();
  const add = (m: SpecMount): void => {
    byDest.delete(m.destination);
    byDest.set(m.destination, m);
  };
  for (const m of defaultMounts(opts.privileged)) add(m);
  if (opts.sandbox.shm) add({ destination: '/dev/shm', type: 'bind', source: opts.sandbox.shm, options: ['rbind', 'rprivate', 'rw'] });
  else add({ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] });
  if (opts.sandbox.hostname) add({ destination: '/etc/hostname', type: 'bind', source: opts.sandbox.hostname, options: fileOpts });
  add({ destination: '/etc/hosts', type: 'bind', source: opts.sandbox.hosts, options: fileOpts });
  add({ destination: '/etc/resolv.conf', type: 'bind', source: opts.sandbox.resolvConf, options: fileOpts });
  if (opts.terminationLog) add({ destination: MESSAGE_PATH, type: 'bind', source: opts.terminationLog, options: ['rbind', 'rprivate', 'rw'] });

  let rootfsPropagation: string | undefined;
  for (const m of opts.criMounts) {
    const containerPath = m.container_path ?? '';
    const hostPath = m.host_path ?? '';
    if (!containerPath.startsWith('/')) throw invalidArgument(`mount container_path "${containerPath}" must be absolute`);
    if (!hostPath.startsWith('/')) throw invalidArgument(`mount host_path "${hostPath}" for ${containerPath} must be absolute`);
    const prop = PROPAGATION_OPTION[m.propagation ?? 'PROPAGATION_PRIVATE'];
    if (prop === 'rshared') rootfsPropagation = 'rshared';
    else if (prop === 'rslave' && rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
    add({
      destination: path.posix.normalize(containerPath),
      type: 'bind',
      source: hostPath,
      options: ['rbind', prop, m.readonly ? 'ro' : 'rw'],
    });
  }
  const mounts = [...byDest.values()].sort((a, b) => depth(a.destination) - depth(b.destination));
  const message = byDest.get(MESSAGE_PATH);
  return { mounts, rootfsPropagation, terminationMessageHostPath: message?.type === 'bind' ? message.source : undefined };
}

const depth = (p: string): number => (p === '/' ? 0 : p.split('/').length - 1);
