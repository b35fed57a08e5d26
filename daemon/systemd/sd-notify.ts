import koffi from 'koffi';
import { ERRNO_NAMES, LIBC_PATH, SyscallError } from '../linux/libc.js';

/**
 * systemd's notification protocol (sd_notify(3)): newline-separated KEY=VALUE datagrams sent to the unix
 * socket named by $NOTIFY_SOCKET. Node has no unix datagram sockets, so the three calls come from libc.
 */

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** sizeof(sockaddr_un.sun_path) */
const SUN_PATH_BYTES = 108;

let bound: ReturnType<typeof bind> | undefined;

function bind() {
  const lib = koffi.load(LIBC_PATH);
  return {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    sendto: lib.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
    close: lib.func('int close(int fd)'),
  };
}

function check(result: number, syscall: string, detail: string): number {
  if (result < 0) {
    const errno = koffi.errno();
    throw new SyscallError(syscall, ERRNO_NAMES[errno] ?? `errno ${errno}`, detail);
  }
  return result;
}

/** A sockaddr_un for `path`; "@name" is an abstract socket (leading NUL, length without a terminator). */
export function unixAddress(path: string): Buffer {
  const abstract = path.startsWith('@');
  const name = Buffer.from(abstract ? `\0${path.slice(1)}` : path);
  if (name.length >= SUN_PATH_BYTES) throw new Error(`NOTIFY_SOCKET ${path} is longer than a unix socket path may be`);
  const family = Buffer.alloc(2);
  family.writeUInt16LE(AF_UNIX);
  // A path socket's name ends with a NUL; an abstract one is exactly its bytes.
  return Buffer.concat([family, name, abstract ? Buffer.alloc(0) : Buffer.alloc(1)]);
}

/** Sends one notification datagram to `socketPath` (a path or "@abstract"). */
function sendNotification(socketPath: string, state: string): void {
  const libc = (bound ??= bind());
  const address = unixAddress(socketPath);
  const fd = check(libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 'socket', 'AF_UNIX, SOCK_DGRAM');
  try {
    const message = Buffer.from(state);
    check(Number(libc.sendto(fd, message, message.length, MSG_NOSIGNAL, address, address.length)), 'sendto', socketPath);
  } finally {
    libc.close(fd);
  }
}

export interface ServiceManager {
  /** READY=1: the socket serves; systemd starts units ordered after berth (kubelet). */
  ready(): void;
  /** RELOADING=1 while a SIGHUP's config is applied; ready() ends it. */
  reloading(): void;
  stopping(): void;
  /** STATUS= line shown by `systemctl status`. */
  status(text: string): void;
  /** Starts WATCHDOG=1 pings when systemd asked for them; returns the interval in ms, or undefined. */
  startWatchdog(): number | undefined;
  close(): void;
}

/**
 * The link to systemd taken from the environment berthd was started with. The variables are removed from
 * process.env at once: runc treats NOTIFY_SOCKET as a request to relay a container's readiness, and shims or
 * hooks must not ping berth's watchdog. Outside systemd every method does nothing.
 */
export function serviceManagerFromEnv(onError: (err: unknown) => void): ServiceManager {
  const socketPath = process.env['NOTIFY_SOCKET'];
  const watchdogUsec = Number(process.env['WATCHDOG_USEC'] ?? '');
  const watchdogPid = process.env['WATCHDOG_PID'];
  for (const name of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete process.env[name];
  let timer: NodeJS.Timeout | undefined;
  const send = (state: string): void => {
    if (socketPath === undefined || socketPath === '') return;
    try {
      sendNotification(socketPath, state);
    } catch (err) {
      onError(err);
    }
  };
  return {
    ready: () => send(`READY=1\nMAINPID=${process.pid}`),
    reloading: () => send('RELOADING=1'),
    stopping: () => send('STOPPING=1'),
    status: (text) => send(`STATUS=${text.replace(/\n/g, ' ')}`),
    startWatchdog: () => {
      const forUs = watchdogPid === undefined || watchdogPid === String(process.pid);
      if (!forUs || !Number.isSafeInteger(watchdogUsec) || watchdogUsec <= 0) return undefined;
      // Pinged from the event loop itself: a loop blocked for longer than WATCHDOG_USEC misses pings and
      // systemd restarts berthd (KillMode=process leaves the containers running).
      const intervalMs = Math.max(1, Math.floor(watchdogUsec / 2000));
      send('WATCHDOG=1');
      timer = setInterval(() => send('WATCHDOG=1'), intervalMs);
      timer.unref();
      return intervalMs;
    },
    close: () => clearInterval(timer),
  };
}
