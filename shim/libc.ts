/**
 * The few libc calls Node does not expose, through koffi. koffi is loaded by loadLibc() at the first create and
 * each function is declared only when first called, so the shim pays for exactly what it uses: an idle spare
 * loads none of it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type koffiDefault from 'koffi';

type KoffiModule = typeof koffiDefault;
type LibcFn = (...args: unknown[]) => number;

let koffiModule: KoffiModule | undefined;
let libc: ReturnType<KoffiModule['load']> | undefined;
const declared = new Map<string, LibcFn>();

/**
 * koffi's native module, opened straight from its platform package (glibc Linux) in the nearest node_modules
 * above `from`, or undefined when that is not where the installed koffi keeps it (another release's layout,
 * musl). koffi's entry point finds that same file by parsing node's ELF headers, and node's resolver would load
 * its ESM machinery to read koffi's package exports: together ~20 ms of CPU in every shim, so in every
 * container start (bench/shim-footprint.ts), for nothing the shim uses.
 */
export function openKoffiNative(from: string): KoffiModule | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const modules = path.join(dir, 'node_modules');
    if (fs.existsSync(path.join(modules, 'koffi', 'package.json'))) {
      const version = (JSON.parse(fs.readFileSync(path.join(modules, 'koffi', 'package.json'), 'utf8')) as { version: string }).version;
      const file = path.join(modules, '@koromix', `koffi-${process.platform}-${process.arch}`, `${process.platform}_${process.arch}`, 'koffi.node');
      if (!fs.existsSync(file)) return undefined;
      const native = { exports: {} as KoffiModule & { version?: string } };
      process.dlopen(native, file);
      return native.exports.version === version ? native.exports : undefined;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** Loads koffi; every other function here needs it. */
export async function loadLibc(): Promise<void> {
  // Found from the shim's own script (argv[1]), as its imports are, in both the CommonJS and the ESM build.
  koffiModule ??= openKoffiNative(path.dirname(process.argv[1] ?? process.cwd())) ?? (await import('koffi')).default;
}

function koffi(): KoffiModule {
  if (koffiModule === undefined) throw new Error('libc: koffi is not loaded; call loadLibc() first');
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

/**
 * Returns the free memory of every malloc arena to the kernel, not just the top of the main one. Does nothing
 * before loadLibc(): a spare that has not taken a container has freed next to nothing.
 */
export function trimMalloc(): void {
  if (koffiModule !== undefined) fn('int malloc_trim(size_t pad)')(0);
}

/** A real pipe (not the socketpair child_process makes): `/dev/stdout` inside a container must be openable. */
export function pipe(): { read: number; write: number } {
  const fds = new Int32Array(2);
  if (fn('int pipe2(void *fds, int flags)')(fds, O_CLOEXEC) !== 0) throw new SyscallError('pipe2', errno());
  return { read: fds[0] ?? -1, write: fds[1] ?? -1 };
}

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
const TIOCSWINSZ = 0x5414;
/** sizeof(struct sockaddr_un) and of its sun_path. */
const SOCKADDR_UN_SIZE = 110;
const SUN_PATH_MAX = 107;

function check(r: number | bigint, syscall: string): number {
  if (Number(r) < 0) throw new SyscallError(syscall, errno());
  return Number(r);
}

/**
 * A listening unix stream socket for `runc create --console-socket`, non-blocking: the shim accepts only
 * after runc has exited, when runc's connection and its message are already queued.
 */
export function listenConsoleSocket(path: string): number {
  const sunPath = Buffer.from(path);
  if (sunPath.length > SUN_PATH_MAX) throw new SyscallError(`bind(${path}): path longer than ${SUN_PATH_MAX} bytes`, 36);
  const fd = check(fn('int socket(int domain, int type, int protocol)')(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), 'socket');
  const addr = Buffer.alloc(SOCKADDR_UN_SIZE);
  addr.writeUInt16LE(AF_UNIX, 0);
  sunPath.copy(addr, 2);
  try {
    check(fn('int bind(int fd, void *addr, uint32_t len)')(fd, addr, SOCKADDR_UN_SIZE), `bind(${path})`);
    check(fn('int listen(int fd, int backlog)')(fd, 1), 'listen');
  } catch (err) {
    fn('int close(int fd)')(fd);
    throw err;
  }
  return fd;
}

/** Accepts the queued connection on `listenFd` and returns the one fd passed over it with SCM_RIGHTS. */
export function receiveFd(listenFd: number): number {
  const conn = check(fn('int accept4(int fd, void *addr, void *len, int flags)')(listenFd, null, null, SOCK_CLOEXEC), 'accept4');
  try {
    const k = koffi();
    // struct msghdr / iovec / cmsghdr laid out by hand for 64-bit Linux; Buffers do not move, so their
    // addresses stay valid for the call.
    const data = Buffer.alloc(4096);
    const control = Buffer.alloc(64);
    const iov = Buffer.alloc(16);
    iov.writeBigUInt64LE(k.address(data), 0);
    iov.writeBigUInt64LE(BigInt(data.length), 8);
    const msg = Buffer.alloc(56);
    msg.writeBigUInt64LE(k.address(iov), 16);
    msg.writeBigUInt64LE(1n, 24);
    msg.writeBigUInt64LE(k.address(control), 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
    check(fn('intptr_t recvmsg(int fd, void *msg, int flags)')(conn, msg, MSG_CMSG_CLOEXEC), 'recvmsg');
    const controlLen = Number(msg.readBigUInt64LE(40));
    if (controlLen < 20 || control.readInt32LE(8) !== SOL_SOCKET || control.readInt32LE(12) !== SCM_RIGHTS) {
      throw new SyscallError('recvmsg: no SCM_RIGHTS file descriptor in the message', 0);
    }
    return control.readInt32LE(16);
  } finally {
    fn('int close(int fd)')(conn);
  }
}

/** TIOCSWINSZ on a pty master: the container's terminal size. */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(rows, 0);
  ws.writeUInt16LE(cols, 2);
  check(fn('int ioctl(int fd, unsigned long request, void *arg)')(fd, TIOCSWINSZ, ws), 'ioctl(TIOCSWINSZ)');
}

/** Points the process's stdout and stderr at `fd` (dup2), e.g. a spare shim's output moving into its bundle. */
export function redirectStdoutStderr(fd: number): void {
  for (const target of [1, 2]) check(fn('int dup2(int oldfd, int newfd)')(fd, target), `dup2(${fd}, ${target})`);
}
