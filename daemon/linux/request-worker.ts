import { Worker } from 'node:worker_threads';
import { BerthError } from '../errors/errors.js';

/** The body of a worker thread; see namespace-worker.ts for why it is run from its source text. */
export type WorkerMain = (require: NodeRequire) => void;

/** Asks a worker to release its descriptors and exit; every worker body answers it. */
export interface CloseRequest {
  close: true;
}

/**
 * The main-thread side of a long-lived worker thread that answers numbered requests: `request()` posts a body
 * with a fresh `seq` and resolves with the reply carrying it back. The thread is referenced only while a request
 * is out, so an idle worker never keeps the daemon alive. When the thread fails or exits, every waiting request
 * is rejected and `onExit` runs, so the owner starts a fresh worker for the next request.
 */
export class RequestWorker<Request extends object, Reply extends { seq: number }> {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>();
  private seq = 0;

  /**
   * `label` names the thread in errors. `unclaimed` receives a reply nobody waits for any more (its request was
   * rejected when the thread failed), so a reply holding a resource (a descriptor) can release it.
   */
  constructor(
    main: WorkerMain,
    workerData: unknown,
    label: string,
    onExit: () => void,
    unclaimed: (reply: Reply) => void = () => undefined,
  ) {
    this.worker = new Worker(`(${main.toString()})(require)`, { eval: true, workerData });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.seq);
      this.pending.delete(reply.seq);
      if (this.pending.size === 0) this.worker.unref();
      if (waiter === undefined) unclaimed(reply);
      else waiter.resolve(reply);
    });
    const failAll = (err: Error): void => {
      onExit();
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', failAll);
    this.worker.on('exit', (code) =>
      failAll(new BerthError('Internal', `${label} thread exited (code ${code}) before answering; the next request starts a fresh one`)),
    );
  }

  request(body: Request): Promise<Reply> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...body, seq });
    });
  }

  /** Asks the thread to release its descriptors and exit, and waits until its OS thread is joined. */
  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    // Referenced until it exits: an idle worker is unref'd, and a process with nothing else to do would end with
    // this promise never settled (seen in a script that awaited close()).
    this.worker.ref();
    this.worker.postMessage({ close: true } satisfies CloseRequest);
    await exited;
  }
}
