import type { ContainerRecord } from '../container/container.js';
import { BerthError } from '../errors/errors.js';
import type { SandboxRecord } from '../sandbox/sandbox.js';

export type LifecycleKind = 'created' | 'started' | 'stopped' | 'deleted';

/**
 * A container or pod sandbox changed state. The records are snapshots taken when it happened, so a subscriber
 * that reads the event later (or after the object is deleted) still sees the state that the event reports.
 */
export interface LifecycleEvent {
  /** The namespace of the services that published it ("k8s.io" for the CRI). */
  namespace: string;
  kind: LifecycleKind;
  /** A container id, or a sandbox id for the sandbox's own events (as containerd reports them). */
  containerId: string;
  sandboxId: string;
  /** Nanoseconds since the epoch, decimal. */
  atNs: string;
  sandbox: SandboxRecord | undefined;
  /** The sandbox's containers after the change. */
  containers: ContainerRecord[];
}

/** What the pod services call at each state change: one line at each place the state changes. */
export type LifecycleHook = (kind: LifecycleKind, containerId: string, sandboxId: string) => void;

export interface SubscribeOptions {
  /** Only events of this namespace. */
  namespace: string;
  /** Events queued for this subscriber before it is dropped. */
  maxQueued: number;
}

/**
 * One reader's view of the bus: events in publish order. A reader that falls more than `maxQueued` events behind
 * is dropped with ResourceExhausted (as containerd drops a slow event subscriber): publishing never waits for a
 * reader, so a client that stops reading cannot stall container operations or grow the daemon's memory.
 */
export class Subscription {
  private readonly queue: LifecycleEvent[] = [];
  private waiting: { resolve: (e: LifecycleEvent) => void; reject: (err: unknown) => void } | undefined;
  private failure: unknown;
  private readonly failed: Promise<never>;
  private fail: (err: unknown) => void = () => undefined;

  constructor(
    readonly options: SubscribeOptions,
    private readonly detach: (s: Subscription) => void,
  ) {
    this.failed = new Promise<never>((_resolve, reject) => (this.fail = reject));
    // Observed through next() or whenFailed(); a subscription closed without ever failing must not warn.
    this.failed.catch(() => undefined);
  }

  /** Called by the bus, synchronously. */
  deliver(event: LifecycleEvent): void {
    if (this.failure !== undefined) return;
    if (this.waiting !== undefined) {
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(event);
      return;
    }
    if (this.queue.length >= this.options.maxQueued) {
      this.close(
        new BerthError(
          'ResourceExhausted',
          `event subscriber fell more than ${this.options.maxQueued} events behind and was dropped; read events promptly and subscribe again`,
        ),
      );
      return;
    }
    this.queue.push(event);
  }

  /** The next event; rejects once the subscription has failed or closed. */
  next(): Promise<LifecycleEvent> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** Rejects when the subscriber is dropped or closed, for racing against a write the client does not take. */
  whenFailed(): Promise<never> {
    return this.failed;
  }

  /** Leaves the bus; `reason` (default: a plain close) is what a pending or later next() rejects with. */
  close(reason: unknown = new Error('event subscription closed')): void {
    if (this.failure !== undefined) return;
    this.failure = reason;
    this.queue.length = 0;
    this.detach(this);
    this.fail(reason);
    this.waiting?.reject(reason);
    this.waiting = undefined;
  }
}

/** Lifecycle events of every namespace's containers and sandboxes, fanned out to any number of subscribers. */
export class EventBus {
  private readonly subscribers = new Set<Subscription>();

  publish(event: LifecycleEvent): void {
    for (const s of this.subscribers) if (s.options.namespace === event.namespace) s.deliver(event);
  }

  subscribe(options: SubscribeOptions): Subscription {
    const s = new Subscription(options, (gone) => this.subscribers.delete(gone));
    this.subscribers.add(s);
    return s;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }
}
