import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/errors.js';
import { EventBus, type LifecycleEvent, type LifecycleKind } from './event-bus.js';

const event = (kind: LifecycleKind, containerId: string, namespace = 'k8s.io'): LifecycleEvent => ({
  namespace,
  kind,
  containerId,
  sandboxId: 'pod',
  atNs: '1',
  sandbox: undefined,
  containers: [],
});

describe('EventBus', () => {
  it('delivers in order to every subscriber of the namespace, and none of another', async () => {
    const bus = new EventBus();
    const a = bus.subscribe({ namespace: 'k8s.io', maxQueued: 10 });
    const b = bus.subscribe({ namespace: 'k8s.io', maxQueued: 10 });
    const other = bus.subscribe({ namespace: 'moby', maxQueued: 10 });
    const pendingA = a.next();
    bus.publish(event('created', 'c1'));
    bus.publish(event('started', 'c1'));
    bus.publish(event('created', 'm1', 'moby'));
    expect((await pendingA).kind).toBe('created');
    expect((await a.next()).kind).toBe('started');
    expect([(await b.next()).kind, (await b.next()).kind]).toEqual(['created', 'started']);
    expect((await other.next()).containerId).toBe('m1');
  });

  it('drops a subscriber that falls behind with ResourceExhausted, without affecting the others', async () => {
    const bus = new EventBus();
    const slow = bus.subscribe({ namespace: 'k8s.io', maxQueued: 3 });
    const fast = bus.subscribe({ namespace: 'k8s.io', maxQueued: 3 });
    for (let i = 0; i < 10; i++) {
      bus.publish(event('created', `c${i}`));
      expect((await fast.next()).containerId).toBe(`c${i}`);
    }
    expect(bus.subscriberCount).toBe(1);
    const failure = await slow.next().catch((err: unknown) => err);
    expect(isBerthError(failure, 'ResourceExhausted')).toBe(true);
    await expect(slow.whenFailed()).rejects.toBe(failure);
  });

  it('close ends a pending read and leaves the bus', async () => {
    const bus = new EventBus();
    const s = bus.subscribe({ namespace: 'k8s.io', maxQueued: 3 });
    const pending = s.next();
    s.close();
    await expect(pending).rejects.toThrow('event subscription closed');
    expect(bus.subscriberCount).toBe(0);
  });
});
