import { createRequire } from 'node:module';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { BerthError } from '../errors/errors.js';
import { CLONE_NEWNET, ERRNO_NAMES, LIBC_PATH } from './libc.js';
import { netnsDialWorkerMain, type DialReply, type NetnsDialWorkerData, type WorkerMessage } from './netns-dial-worker.js';

/** The dial worker's thread name (/proc/<pid>/task/<tid>/comm). */
export const NETNS_DIAL_THREAD_NAME = 'berth-nsdial';

const PROTOTYPES = {
  setns: 'int setns(int fd, int nstype)',
  socket: 'int socket(int domain, int type, int protocol)',
  connect: 'int connect(int fd, const void *addr, uint32_t len)',
  close: 'int close(int fd)',
} as const;

/**
 * Connects to localhost:<port> inside a pod's network namespace (PortForward), on one long-lived worker thread
 * (see netns-dial-worker.ts), and returns the connection as a net.Socket on the main thread. The worker is
 * referenced only while a dial is out, so an idle dialer never keeps the daemon alive.
 */
export class NetnsDialer {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: (fd: number) => void; reject: (err: Error) => void }>();
  private seq = 0;

  async dial(netns: string, port: number): Promise<net.Socket> {
    const fd = await this.request(netns, port);
    return new net.Socket({ fd, readable: true, writable: true });
  }

  /** Stops the worker thread; a later dial starts a new one. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker === undefined) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.postMessage({ close: true } satisfies WorkerMessage);
    await exited;
  }

  private request(netns: string, port: number): Promise<number> {
    const worker = this.worker ?? this.startWorker();
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.ref();
      worker.postMessage({ seq, netns, port } satisfies WorkerMessage);
    });
  }

  private startWorker(): Worker {
    const data: NetnsDialWorkerData = {
      koffiPath: createRequire(import.meta.url).resolve('koffi'),
      libcPath: LIBC_PATH,
      prototypes: PROTOTYPES,
      clone: { net: CLONE_NEWNET },
      socket: { inet: 2, inet6: 10, stream: 1, cloexec: 0o2000000 },
      errnoNames: { ...ERRNO_NAMES },
      threadName: NETNS_DIAL_THREAD_NAME,
    };
    const worker = new Worker(`(${netnsDialWorkerMain.toString()})(require)`, { eval: true, workerData: data });
    worker.unref();
    this.worker = worker;
    worker.on('message', (reply: DialReply) => {
      const waiter = this.pending.get(reply.seq);
      this.pending.delete(reply.seq);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) {
        if (waiter === undefined) koffi.load(LIBC_PATH).func('int close(int fd)')(reply.fd);
        else waiter.resolve(reply.fd);
        return;
      }
      const refused = reply.errno === 'ECONNREFUSED';
      waiter?.reject(
        new BerthError(refused ? 'Unavailable' : 'Internal', `${reply.syscall}(${reply.detail}) failed: ${reply.errno}${refused ? ': nothing listens on that port inside the pod' : ''}`),
      );
    });
    const failAll = (err: Error): void => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`netns dial thread exited (code ${code})`)));
    return worker;
  }
}
