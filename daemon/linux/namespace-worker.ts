/**
 * The body of the namespace worker thread, kept apart because it runs in a different realm: it is started from
 * its source text (`new Worker(source, { eval: true })`), so it must not capture anything from module scope and
 * may only use what it is handed: `require` and the worker data below. That keeps it working both from tsc's
 * dist/ and from vitest's on-the-fly TypeScript, where a worker file path would not exist.
 *
 * Why a thread at all: unshare(CLONE_NEWNET|CLONE_NEWIPC|CLONE_NEWUTS) and sethostname() act on the calling OS
 * thread only. Doing them here leaves the daemon's main thread and libuv pool untouched. For the same reason lo
 * is brought up here: a socket opened by this thread right after unshare belongs to the new network namespace.
 */

// Types only: erased from the compiled source, so the worker body still captures nothing.
import type { CloseRequest, WorkerMain } from './request-worker.js';

export interface NamespaceWorkerData {
  koffiPath: string;
  libcPath: string;
  prototypes: Record<'unshare' | 'setns' | 'mount' | 'sethostname' | 'socket' | 'ioctl' | 'close', string>;
  flags: { net: number; ipc: number; uts: number; bind: number };
  /** socket(2) and netdevice(7) ioctl constants for bringing lo up. */
  loopback: { inet: number; dgram: number; cloexec: number; getFlags: number; setFlags: number; up: number };
  errnoNames: Record<number, string>;
  threadName: string;
}

export type NamespaceKind = 'net' | 'ipc' | 'uts';

/** A pin request, or `{ close: true }`: release the thread's descriptors and exit. */
export type WorkerRequest = PinRequest | CloseRequest;

export interface PinRequest {
  seq: number;
  /** Where each new namespace is bind-mounted; the files already exist and are empty. */
  pins: Partial<Record<NamespaceKind, string>>;
  /** Set in the new UTS namespace; only with a `uts` pin. */
  hostname?: string;
}

export interface WorkerFailure {
  /** What the request was doing, e.g. "bringing up lo in the new network namespace". */
  step: string;
  syscall: string;
  errno: string;
  detail: string;
}

export type PinReply =
  | { seq: number; ok: true }
  | { seq: number; ok: false; failure: WorkerFailure; threadTainted: boolean };

/**
 * Each request: unshare the asked-for namespaces, set the hostname, bring lo up in a new network namespace, bind-mount /proc/thread-self/ns/<kind> on the
 * pin files, then setns() back to the namespaces the thread started in and verify by inode. A thread that cannot
 * prove it is back home exits, so its OS thread ends and a fresh worker serves the next request.
 */
export const namespaceWorkerMain: WorkerMain = (require) => {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const data = workerData as NamespaceWorkerData;
  const koffi = require(data.koffiPath) as typeof import('koffi');
  const lib = koffi.load(data.libcPath);
  const unshare = lib.func(data.prototypes.unshare);
  const setns = lib.func(data.prototypes.setns);
  const mount = lib.func(data.prototypes.mount);
  const sethostname = lib.func(data.prototypes.sethostname);
  const socket = lib.func(data.prototypes.socket);
  const ioctl = lib.func(data.prototypes.ioctl);
  const close = lib.func(data.prototypes.close);
  // Named so `ps -T` (and the tests) can tell this thread apart from the rest of the daemon.
  fs.writeFileSync('/proc/thread-self/comm', data.threadName);
  const kinds = ['net', 'ipc', 'uts'] as const;
  const nsPath = (kind: NamespaceKind) => `/proc/thread-self/ns/${kind}`;
  const home = Object.fromEntries(kinds.map((kind) => [kind, { fd: fs.openSync(nsPath(kind), 'r'), link: fs.readlinkSync(nsPath(kind)) }]));

  const fail = (step: string, syscall: string, detail: string): WorkerFailure => {
    const errno = koffi.errno();
    return { step, syscall, detail, errno: data.errnoNames[errno] ?? `errno ${errno}` };
  };

  /*
   * Sets IFF_UP on lo, which is all the CNI loopback plugin's ADD does (a netlink link-up) and what containerd 2.x's
   * CRI plugin does itself with `use_internal_loopback = true`; berth always does it this way, sparing a plugin
   * fork and exec per pod. IFF_RUNNING is the kernel's to set (lo has carrier once up). Nothing to undo on
   * tear-down: lo dies with the namespace.
   */
  const bringUpLoopback = (): WorkerFailure | undefined => {
    const lo = data.loopback;
    const step = 'bringing up lo in the new network namespace';
    const fd = socket(lo.inet, lo.dgram | lo.cloexec, 0) as number;
    if (fd === -1) return fail(step, 'socket', 'AF_INET, SOCK_DGRAM');
    // struct ifreq: the name in 16 bytes, then a union whose ifr_flags is a short in the CPU's byte order.
    const ifreq = Buffer.alloc(40);
    const le = os.endianness() === 'LE';
    ifreq.write('lo');
    let failure: WorkerFailure | undefined;
    if (ioctl(fd, lo.getFlags, 'void *', ifreq) === -1) {
      failure = fail(step, 'ioctl', 'lo, SIOCGIFFLAGS');
    } else {
      const flags = (le ? ifreq.readUInt16LE(16) : ifreq.readUInt16BE(16)) | lo.up;
      if (le) ifreq.writeUInt16LE(flags, 16);
      else ifreq.writeUInt16BE(flags, 16);
      if (ioctl(fd, lo.setFlags, 'void *', ifreq) === -1) failure = fail(step, 'ioctl', 'lo, SIOCSIFFLAGS IFF_UP');
    }
    close(fd);
    return failure;
  };

  // The descriptors are the process's, not the thread's: close them before the thread goes.
  const exit = (code: number): never => {
    for (const kind of kinds) fs.closeSync(home[kind]!.fd);
    process.exit(code);
  };

  parentPort!.on('message', (message: WorkerRequest) => {
    if ('close' in message) exit(0);
    const req = message as PinRequest;
    const wanted = kinds.filter((kind) => req.pins[kind] !== undefined);
    const flags = wanted.reduce((acc, kind) => acc | data.flags[kind], 0);
    let failure: WorkerFailure | undefined;
    if (unshare(flags) === -1) {
      failure = fail(`creating namespaces ${wanted.join(', ')}`, 'unshare', `0x${flags.toString(16)}`);
    } else {
      // Never without a new UTS namespace: that would rename the host.
      if (req.hostname !== undefined && req.pins.uts !== undefined) {
        const name = Buffer.from(req.hostname);
        if (sethostname(name, name.length) === -1) failure = fail('setting the hostname', 'sethostname', req.hostname);
      }
      if (failure === undefined && req.pins.net !== undefined) failure = bringUpLoopback();
      for (const kind of wanted) {
        if (failure !== undefined) break;
        const target = req.pins[kind]!;
        if (mount(nsPath(kind), target, null, data.flags.bind, null) === -1) failure = fail(`pinning the ${kind} namespace`, 'mount', `bind ${nsPath(kind)} -> ${target}`);
      }
    }
    let tainted = false;
    for (const kind of wanted) {
      if (setns(home[kind]!.fd, data.flags[kind]) === -1 || fs.readlinkSync(nsPath(kind)) !== home[kind]!.link) tainted = true;
    }
    if (failure === undefined) {
      parentPort!.postMessage({ seq: req.seq, ok: true } satisfies PinReply);
    } else {
      parentPort!.postMessage({ seq: req.seq, ok: false, failure, threadTainted: tainted } satisfies PinReply);
    }
    if (tainted) exit(1);
  });
};
