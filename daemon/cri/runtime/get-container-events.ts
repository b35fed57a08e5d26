import type { ContainerEventResponse } from '../../../proto/gen/runtime/v1/ContainerEventResponse.js';
import type { ContainerEventType } from '../../../proto/gen/runtime/v1/ContainerEventType.js';
import type { LifecycleEvent, LifecycleKind } from '../../events/event-bus.js';
import { CRI_NAMESPACE } from '../../images/image-service.js';
import type { RuntimeRpc } from '../handler.js';
import { containerStatusOf } from './container-view.js';
import { podSandboxStatusOf } from './sandbox-view.js';

/**
 * How far one subscriber may fall behind before it is dropped. kubelet reads continuously; a pod's lifecycle is
 * about ten events, so this is many pods' worth of slack while bounding what a stuck client can pin in memory.
 */
export const MAX_QUEUED_EVENTS = 1024;

const EVENT_TYPE: Record<LifecycleKind, ContainerEventType> = {
  created: 'CONTAINER_CREATED_EVENT',
  started: 'CONTAINER_STARTED_EVENT',
  stopped: 'CONTAINER_STOPPED_EVENT',
  deleted: 'CONTAINER_DELETED_EVENT',
};

function toCri(event: LifecycleEvent): ContainerEventResponse {
  return {
    container_id: event.containerId,
    container_event_type: EVENT_TYPE[event.kind],
    created_at: event.atNs,
    pod_sandbox_status: event.sandbox === undefined ? null : podSandboxStatusOf(event.sandbox),
    containers_statuses: event.containers.map(containerStatusOf),
  };
}

/**
 * kubelet's evented PLEG: every container and sandbox state change of the CRI namespace, from subscription on,
 * until the client leaves or the daemon stops. A subscriber that stops reading is dropped (ResourceExhausted)
 * rather than slowing anyone down; its pending write is abandoned, not awaited.
 */
export const getContainerEvents: RuntimeRpc<'GetContainerEvents'> = async (_request, ctx, sink, call) => {
  const subscription = ctx.events.subscribe({ namespace: CRI_NAMESPACE, maxQueued: MAX_QUEUED_EVENTS });
  const ended = new Promise<never>((_resolve, reject) => {
    const stop = (): void => reject(call.signal.reason);
    if (call.signal.aborted) stop();
    else call.signal.addEventListener('abort', stop, { once: true });
  });
  ended.catch(() => undefined);
  try {
    for (;;) {
      const event = await Promise.race([subscription.next(), ended]);
      await Promise.race([sink.write(toCri(event)), subscription.whenFailed(), ended]);
    }
  } finally {
    subscription.close();
  }
};
