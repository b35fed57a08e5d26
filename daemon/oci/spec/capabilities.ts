import type { Capabilities } from './runtime-spec.js';
import { invalidArgument } from '../../errors/errors.js';

/** containerd's default set for unprivileged containers (Docker's, minus nothing). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** Every capability up to CAP_CHECKPOINT_RESTORE (40), the last one runc 1.1 knows; privileged containers get all. */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Kubernetes writes capabilities without the prefix ("NET_RAW"); the OCI spec wants "CAP_NET_RAW". */
function normalise(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === 'ALL') return upper;
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  if (!ALL_CAPABILITIES.includes(full)) {
    throw invalidArgument(`unknown capability "${name}"; use a Linux capability name such as NET_ADMIN or ALL`);
  }
  return full;
}

/** The capability names set in a /proc/<pid>/status capability mask (e.g. CapBnd's hex). */
export function capabilitiesInMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/**
 * The capability sets for a container. Drops apply after adds unless the add is explicit, as in containerd:
 * `drop: [ALL], add: [NET_BIND_SERVICE]` keeps exactly NET_BIND_SERVICE. Ambient capabilities require the
 * capability to be in the other sets too, so they are added there. Nothing beyond `available` (berthd's own
 * bounding set) is granted, not even to privileged containers: runc cannot hand out what it does not hold
 * (containerd's "all current capabilities").
 */
export function capabilitySets(opts: { privileged: boolean; add: string[]; drop: string[]; ambient: string[]; available: readonly string[] }): Capabilities {
  const add = opts.add.map(normalise);
  const drop = opts.drop.map(normalise);
  const ambient = opts.ambient.map(normalise).filter((c) => c !== 'ALL');
  let caps: string[];
  if (opts.privileged) caps = [...ALL_CAPABILITIES];
  else {
    const set = new Set(DEFAULT_CAPABILITIES);
    if (add.includes('ALL')) for (const c of ALL_CAPABILITIES) set.add(c);
    if (drop.includes('ALL')) set.clear();
    for (const c of drop) set.delete(c);
    for (const c of add) if (c !== 'ALL') set.add(c);
    for (const c of ambient) set.add(c);
    caps = ALL_CAPABILITIES.filter((c) => set.has(c));
  }
  caps = caps.filter((c) => opts.available.includes(c));
  return { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: ambient.filter((c) => caps.includes(c)) };
}
