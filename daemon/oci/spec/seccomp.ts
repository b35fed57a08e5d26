import { readFile } from 'node:fs/promises';
import type { Seccomp } from './runtime-spec.js';
import type { SecurityProfile } from './cri-input.js';
import { invalidArgument } from '../../errors/errors.js';

/**
 * berth's RuntimeDefault seccomp profile. It is a deny-list, not Docker's allow-list: every syscall is allowed
 * except those that reach kernel-global state a container has no business touching (module loading, kexec,
 * reboot, swap, clocks, the kernel keyring, BPF, perf, userfaultfd, accounting, quotas, handle-based opens that
 * escape bind mounts). Calls that only CAP_SYS_ADMIN makes useful (mount, unshare, setns, pivot_root...) are
 * denied unless the container holds CAP_SYS_ADMIN. Denied calls fail with EPERM, so programs that probe for a
 * feature degrade instead of dying. Unknown names (e.g. a 32-bit-only call on x86_64) are skipped by runc.
 */
const ALWAYS_DENIED = [
  'acct', 'add_key', 'bpf', 'clock_adjtime', 'clock_settime', 'create_module', 'delete_module', 'finit_module',
  'get_kernel_syms', 'init_module', 'ioperm', 'iopl', 'kexec_file_load', 'kexec_load', 'keyctl', 'lookup_dcookie',
  'nfsservctl', 'open_by_handle_at', 'perf_event_open', 'query_module', 'quotactl', 'reboot', 'request_key',
  'settimeofday', 'stime', 'swapoff', 'swapon', 'sysfs', '_sysctl', 'uselib', 'userfaultfd', 'ustat', 'vm86',
  'vm86old',
];
const SYS_ADMIN_ONLY = [
  'fsconfig', 'fsmount', 'fsopen', 'fspick', 'mount', 'move_mount', 'name_to_handle_at', 'open_tree', 'pivot_root',
  'setdomainname', 'sethostname', 'setns', 'umount', 'umount2', 'unshare', 'syslog',
];
const EPERM = 1;

function architectures(): string[] {
  switch (process.arch) {
    case 'arm64': return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'x64': return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    default: return [];
  }
}

export function defaultSeccompProfile(capabilities: readonly string[]): Seccomp {
  const names = capabilities.includes('CAP_SYS_ADMIN') ? ALWAYS_DENIED : [...ALWAYS_DENIED, ...SYS_ADMIN_ONLY];
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: architectures(),
    syscalls: [{ names: [...names].sort(), action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }],
  };
}

/**
 * The seccomp section for a CRI SecurityProfile. No profile at all is Unconfined (kubelet sends RuntimeDefault
 * explicitly when the pod or the node asks for it); Localhost names a JSON file in OCI seccomp format.
 */
export async function seccompFor(
  profile: SecurityProfile | null | undefined,
  legacyPath: string | undefined,
  capabilities: readonly string[],
): Promise<Seccomp | undefined> {
  let kind: NonNullable<SecurityProfile['profile_type']>;
  let ref = '';
  if (profile) {
    kind = profile.profile_type ?? 'RuntimeDefault';
    ref = profile.localhost_ref ?? '';
  } else if (legacyPath === 'runtime/default' || legacyPath === 'docker/default') kind = 'RuntimeDefault';
  else if (legacyPath?.startsWith('localhost/')) {
    kind = 'Localhost';
    ref = legacyPath.slice('localhost/'.length);
  } else kind = 'Unconfined';

  if (kind === 'Unconfined') return undefined;
  if (kind === 'RuntimeDefault') return defaultSeccompProfile(capabilities);
  if (!ref.startsWith('/')) throw invalidArgument(`seccomp Localhost profile "${ref}" must be an absolute path on the node`);
  let text: string;
  try {
    text = await readFile(ref, 'utf8');
  } catch (err) {
    throw invalidArgument(`cannot read seccomp Localhost profile ${ref}: ${(err as Error).message}; install the profile on the node first`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidArgument(`seccomp Localhost profile ${ref} is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as Seccomp).defaultAction !== 'string') {
    throw invalidArgument(`seccomp Localhost profile ${ref} has no "defaultAction"; it must be an OCI seccomp object`);
  }
  return parsed as Seccomp;
}
