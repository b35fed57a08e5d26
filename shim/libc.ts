/**
 * The few libc calls Node does not expose, through koffi. koffi (a native module) is loaded on first use and
 * each function is declared only when first called, so the shim pays for exactly what it uses.
 */
import { createRequire } from 'node:module';

type KoffiModule = typeof import('koffi');
type LibcFn = (...args: unknown[]) => number;

let koffiModule: KoffiModule | undefined;
let libc: ReturnType<KoffiModule['load']> | undefined;
const declared = new Map<string, LibcFn>();

function koffi(): KoffiModule {
  // require() keeps the load synchronous: the SIGCHLD handler cannot await.
  koffiModule ??= createRequire(import.meta.url)('koffi') as KoffiModule;
  return koffiModule;
}

function fn(signature: string): LibcFn {
  let f = declared.get(signature);
  if (f === undefined) {
    libc ??= koffi().load('libc.so.6');
    f = libc.func(signature) as LibcFn;
    declared.set(signature, f);
  }
  return f;
}

function errno(): number {
  return koffi().errno();
}

export class SyscallError extends Error {
  constructor(readonly syscall: string, readonly errno: number) {
    super(`${syscall} failed with errno ${errno}`);
    this.name = 'SyscallError';
  }
}

export const ECHILD = 10;
const EINTR = 4;
const PR_SET_CHILD_SUBREAPER = 36;
const P_ALL = 0;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const O_CLOEXEC = 0o2000000;
/** offsetof(siginfo_t, si_pid) on 64-bit Linux: three ints, then the union aligned to 8. */
const SIGINFO_PID_OFFSET = 16;
const SIGINFO_SIZE = 128;

/** Orphaned descendants (the container's init once `runc create` exits) are re-parented to this process. */
export function setChildSubreaper(): void {
  if (fn('int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)')(
    PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) !== 0) {
    throw new SyscallError('prctl(PR_SET_CHILD_SUBREAPER)', errno());
  }
}

/** The pid of some exited child without reaping it; 0 when none has exited, -1 when there are no children. */
export function peekExitedChild(): number {
  const info = Buffer.alloc(SIGINFO_SIZE);
  for (;;) {
    const r = fn('int waitid(int idtype, int id, void *info, int options)')(P_ALL, 0, info, WEXITED | WNOHANG | WNOWAIT);
    if (r === 0) return info.readInt32LE(SIGINFO_PID_OFFSET);
    const e = errno();
    if (e === EINTR) continue;
    if (e === ECHILD) return -1;
    throw new SyscallError('waitid', e);
  }
}

/** Reaps `pid` if it has exited; returns its raw wait status, or null when it is still running. */
export function reap(pid: number): number | null {
  const status = new Int32Array(1);
  for (;;) {
    const r = fn('int waitpid(int pid, int *status, int options)')(pid, status, WNOHANG);
    if (r === pid) return status[0] ?? 0;
    if (r === 0) return null;
    const e = errno();
    if (e === EINTR) continue;
    throw new SyscallError(`waitpid(${pid})`, e);
  }
}

/** A real pipe (not the socketpair child_process makes): `/dev/stdout` inside a container must be openable. */
export function pipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  if (fn('int pipe2(void *fds, int flags)')(fds, O_CLOEXEC) !== 0) throw new SyscallError('pipe2', errno());
  return { read: fds[0] ?? -1, write: fds[1] ?? -1 };
}
