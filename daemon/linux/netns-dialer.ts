import { createRequire } from 'node:module';
import net from 'node:net';
import koffi from 'koffi';
import { BerthError } from '../errors/errors.js';
import { CLONE_NEWNET, ERRNO_NAMES, LIBC_PATH } from './libc.js';
import { netnsDialWorkerMain, type DialReply, type DialRequest, type NetnsDialWorkerData } from './netns-dial-worker.js';
import { RequestWorker } from './request-worker.js';

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
  private worker: RequestWorker<Omit<DialRequest, 'seq'>, DialReply> | undefined;

  async dial(netns: string, port: number): Promise<net.Socket> {
    const worker = this.worker ?? this.startWorker();
    const reply = await worker.request({ netns, port });
    if (!reply.ok) {
      const refused = reply.errno === 'ECONNREFUSED';
      throw new BerthError(
        refused ? 'Unavailable' : 'Internal',
        `${reply.syscall}(${reply.detail}) failed: ${reply.errno}${refused ? ': nothing listens on that port inside the pod' : ''}`,
      );
    }
    return new net.Socket({ fd: reply.fd, readable: true, writable: true });
  }

  /** Stops the worker thread; a later dial starts a new one. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.close();
  }

  private startWorker(): RequestWorker<Omit<DialRequest, 'seq'>, DialReply> {
    const data: NetnsDialWorkerData = {
      koffiPath: createRequire(import.meta.url).resolve('koffi'),
      libcPath: LIBC_PATH,
      prototypes: PROTOTYPES,
      clone: { net: CLONE_NEWNET },
      socket: { inet: 2, inet6: 10, stream: 1, cloexec: 0o2000000 },
      errnoNames: { ...ERRNO_NAMES },
      threadName: NETNS_DIAL_THREAD_NAME,
    };
    const worker = new RequestWorker<Omit<DialRequest, 'seq'>, DialReply>(
      netnsDialWorkerMain,
      data,
      'netns dial',
      () => {
        if (this.worker === worker) this.worker = undefined;
      },
      // A connection whose dial was already given up on (the thread failed meanwhile) is closed, not leaked.
      (reply) => {
        if (reply.ok) koffi.load(LIBC_PATH).func('int close(int fd)')(reply.fd);
      },
    );
    this.worker = worker;
    return worker;
  }
}
