import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ContainerEventResponse } from '../../../proto/gen/runtime/v1/ContainerEventResponse.js';
import { isBerthError } from '../../errors/errors.js';
import { EventBus, type LifecycleKind } from '../../events/event-bus.js';
import type { CriContext } from '../context.js';
import type { CallInfo } from '../handler.js';
import { getContainerEvents, MAX_QUEUED_EVENTS } from './get-container-events.js';

const publish = (bus: EventBus, kind: LifecycleKind, id: string, namespace = 'k8s.io'): void =>
  bus.publish({ namespace, kind, containerId: id, sandboxId: 'pod', atNs: '5', sandbox: undefined, containers: [] });

function call(): { info: CallInfo; cancel: () => void } {
  const controller = new AbortController();
  return { info: { method: 'GetContainerEvents', signal: controller.signal, logger: pino({ level: 'silent' }) }, cancel: () => controller.abort(new Error('cancelled')) };
}

describe('GetContainerEvents', () => {
  it('sends the CRI namespace events in order and ends when the client cancels', async () => {
    const bus = new EventBus();
    const sent: ContainerEventResponse[] = [];
    const { info, cancel } = call();
    const running = getContainerEvents({}, { events: bus } as unknown as CriContext, { write: async (m) => void sent.push(m) }, info);
    await new Promise((r) => setImmediate(r));
    publish(bus, 'created', 'c1');
    publish(bus, 'created', 'm1', 'moby');
    publish(bus, 'deleted', 'c1');
    await new Promise((r) => setImmediate(r));
    expect(sent.map((e) => [e.container_id, e.container_event_type, e.created_at])).toEqual([
      ['c1', 'CONTAINER_CREATED_EVENT', '5'],
      ['c1', 'CONTAINER_DELETED_EVENT', '5'],
    ]);
    cancel();
    await expect(running).rejects.toThrow('cancelled');
    expect(bus.subscriberCount).toBe(0);
  });

  it('drops a client whose writes never complete once its queue is full, without waiting for the write', async () => {
    const bus = new EventBus();
    const { info } = call();
    const stuck = { write: () => new Promise<void>(() => undefined) };
    const running = getContainerEvents({}, { events: bus } as unknown as CriContext, stuck, info);
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i <= MAX_QUEUED_EVENTS + 1; i++) publish(bus, 'started', `c${i}`);
    const err = await running.catch((e: unknown) => e);
    expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
    expect(bus.subscriberCount).toBe(0);
  });
});
