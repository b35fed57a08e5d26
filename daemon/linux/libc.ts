import koffi from 'koffi';
import * as snapshotterLibc from '../../snapshotter/libc.js';
import { BerthError } from '../errors/errors.js';

/**
 * The few libc calls Node has no API for. Prototypes are data so the namespace worker (which cannot import this
 * module; see namespace-worker.ts) binds exactly the same signatures.
 */
export const LIBC_PATH = 'libc.so.6';
export const LIBC_PROTOTYPES = {
  unshare: 'int unshare(int flags)',
  setns: 'int setns(int fd, int nstype)',
  mount: 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)',
  umount2: 'int umount2(const char *target, int flags)',
  sethostname: 'int sethostname(const char *name, size_t len)',
  socket: 'int socket(int domain, int type, int protocol)',
  ioctl: 'int ioctl(int fd, unsigned long request, ...)',
  close: 'int close(int fd)',
} as const;

export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_SHARED = 1 << 20;

export const MNT_DETACH = 2;

export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const IFF_UP = 0x1;

/** errno value -> name (EINVAL...), as plain data so it can be handed to a worker. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(koffi.os.errno).map(([name, value]) => [value, name]),
);

/**
 * A failed system call. `code` is the errno name (EINVAL, EPERM...), so callers branch on it the way they
 * branch on Node's own `err.code`. Built from a name, not a number, so a failure reported by the namespace
 * worker thread turns into the same error.
 */
export class SyscallError extends BerthError {
  readonly syscall: string;
  readonly code: string;

  constructor(syscall: string, code: string, detail: string) {
    super('Internal', `${syscall}(${detail}) failed: ${code}`, { context: { syscall, errno: code } });
    this.syscall = syscall;
    this.code = code;
  }
}

export function isSyscallError(err: unknown, code?: string): err is SyscallError {
  return err instanceof SyscallError && (code === undefined || err.code === code);
}

/*
 * Synchronous and cheap (microseconds). unshare, setns and sethostname are deliberately not bound here: they
 * change the calling thread's namespaces, so only the namespace worker (namespace-worker.ts) calls them.
 */

export function mount(source: string | null, target: string, fstype: string | null, flags: number): void {
  asSyscallError(() => snapshotterLibc.mount(source, target, fstype, flags, null), 'mount', `${source ?? 'none'} -> ${target}, flags 0x${flags.toString(16)}`);
}

export function umount2(target: string, flags: number): void {
  asSyscallError(() => snapshotterLibc.umount2(target, flags), 'umount2', target);
}

/** Runs a call bound by the snapshotter (one koffi binding per process) and turns its errno into a SyscallError. */
function asSyscallError(call: () => void, syscall: string, detail: string): void {
  try {
    call();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string') throw err;
    throw new SyscallError(syscall, code, detail);
  }
}
