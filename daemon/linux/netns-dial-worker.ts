/**
 * The body of the netns dial worker thread. Like namespace-worker.ts it is started from its source text, so it
 * captures nothing from module scope and uses only `require` and its worker data.
 *
 * Why a thread: a socket belongs to the network namespace of the thread that creates it, and setns() moves only
 * the calling thread. This thread enters the pod's namespace, creates and connects the socket, and returns home
 * before answering; the descriptor (process-wide) goes to the main thread, which wraps it in a net.Socket. The
 * daemon's main thread and libuv pool never change namespace.
 */

// Types only: erased from the compiled source, so the worker body still captures nothing.
import type { CloseRequest, WorkerMain } from './request-worker.js';

export interface NetnsDialWorkerData {
  koffiPath: string;
  libcPath: string;
  prototypes: Record<'setns' | 'socket' | 'connect' | 'close', string>;
  clone: { net: number };
  socket: { inet: number; inet6: number; stream: number; cloexec: number };
  errnoNames: Record<number, string>;
  threadName: string;
}

export interface DialRequest {
  seq: number;
  /** The pod's netns pin, e.g. <state>/netns/<id>. */
  netns: string;
  port: number;
}

export type DialReply =
  | { seq: number; ok: true; fd: number }
  | { seq: number; ok: false; syscall: string; errno: string; detail: string };

export type WorkerMessage = DialRequest | CloseRequest;

/**
 * Each request: setns into the pod's netns, connect a TCP socket to 127.0.0.1:port (then [::1]:port when IPv4
 * is refused), setns back home and verify by inode. Loopback connects complete at once, so the blocking
 * connect() costs microseconds. A thread that cannot prove it is home exits, and a fresh one takes over.
 */
export const netnsDialWorkerMain: WorkerMain = (require) => {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  const os = require('node:os') as typeof import('node:os');
  const data = workerData as NetnsDialWorkerData;
  const koffi = require(data.koffiPath) as typeof import('koffi');
  const lib = koffi.load(data.libcPath);
  const setns = lib.func(data.prototypes.setns);
  const socket = lib.func(data.prototypes.socket);
  const connect = lib.func(data.prototypes.connect);
  const close = lib.func(data.prototypes.close);
  fs.writeFileSync('/proc/thread-self/comm', data.threadName);
  const homePath = '/proc/thread-self/ns/net';
  const home = { fd: fs.openSync(homePath, 'r'), link: fs.readlinkSync(homePath) };
  const errno = (): string => {
    const n = koffi.errno();
    return data.errnoNames[n] ?? `errno ${n}`;
  };

  // sa_family is a short in the CPU's byte order; the port is in network order.
  const le = os.endianness() === 'LE';
  const address = (family: 'inet' | 'inet6', port: number): Buffer => {
    if (family === 'inet') {
      const sa = Buffer.alloc(16);
      if (le) sa.writeUInt16LE(data.socket.inet, 0);
      else sa.writeUInt16BE(data.socket.inet, 0);
      sa.writeUInt16BE(port, 2);
      sa.set([127, 0, 0, 1], 4);
      return sa;
    }
    const sa = Buffer.alloc(28);
    if (le) sa.writeUInt16LE(data.socket.inet6, 0);
    else sa.writeUInt16BE(data.socket.inet6, 0);
    sa.writeUInt16BE(port, 2);
    sa[8 + 15] = 1;
    return sa;
  };

  const dial = (family: 'inet' | 'inet6', port: number): { fd: number } | { syscall: string; errno: string } => {
    const fd = socket(data.socket[family], data.socket.stream | data.socket.cloexec, 0) as number;
    if (fd === -1) return { syscall: 'socket', errno: errno() };
    const sa = address(family, port);
    if (connect(fd, sa, sa.length) === -1) {
      const failure = { syscall: 'connect', errno: errno() };
      close(fd);
      return failure;
    }
    return { fd };
  };

  parentPort!.on('message', (message: WorkerMessage) => {
    if ('close' in message) {
      fs.closeSync(home.fd);
      process.exit(0);
    }
    const req = message as DialRequest;
    let reply: DialReply;
    let target: number | undefined;
    try {
      target = fs.openSync(req.netns, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      parentPort!.postMessage({ seq: req.seq, ok: false, syscall: 'open', errno: code, detail: req.netns } satisfies DialReply);
      return;
    }
    if (setns(target, data.clone.net) === -1) {
      reply = { seq: req.seq, ok: false, syscall: 'setns', errno: errno(), detail: req.netns };
    } else {
      let result = dial('inet', req.port);
      if ('errno' in result && result.errno === 'ECONNREFUSED') {
        const v6 = dial('inet6', req.port);
        // No IPv6 in the pod (EAFNOSUPPORT, EADDRNOTAVAIL): the IPv4 refusal is the answer.
        if ('fd' in v6 || v6.errno === 'ECONNREFUSED') result = v6;
      }
      reply = 'fd' in result
        ? { seq: req.seq, ok: true, fd: result.fd }
        : { seq: req.seq, ok: false, syscall: result.syscall, errno: result.errno, detail: `localhost:${req.port}` };
    }
    fs.closeSync(target);
    const back = setns(home.fd, data.clone.net) !== -1 && fs.readlinkSync(homePath) === home.link;
    parentPort!.postMessage(reply);
    if (!back) {
      fs.closeSync(home.fd);
      process.exit(1);
    }
  });
};
