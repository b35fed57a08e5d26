import type { ClientReadableStream } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { ContainerEventResponse__Output } from '../../proto/gen/runtime/v1/ContainerEventResponse.js';
import { containerConfig, podConfig, runContainer, usePodTestBed, waitFor } from '../fixtures/pods.js';

/** A subscriber that collects every event it reads. */
function collect(stream: ClientReadableStream<ContainerEventResponse__Output>): ContainerEventResponse__Output[] {
  const seen: ContainerEventResponse__Output[] = [];
  stream.on('data', (e: ContainerEventResponse__Output) => seen.push(e));
  // Cancelling at the end of the test ends the stream with CANCELLED.
  stream.on('error', () => undefined);
  return seen;
}

/** GetContainerEvents for kubelet's evented PLEG: order, payload, several subscribers, one that never reads. */
describe('CRI container events', () => {
  const bed = usePodTestBed();

  it('streams a pod lifecycle in order to two subscribers while a third never reads', async () => {
    const streams = [bed.daemon.runtime.GetContainerEvents({}), bed.daemon.runtime.GetContainerEvents({})];
    const [first, second] = streams.map(collect) as [ContainerEventResponse__Output[], ContainerEventResponse__Output[]];
    const stalled = bed.daemon.runtime.GetContainerEvents({});
    stalled.on('error', () => undefined);
    stalled.pause();
    // Subscriptions are made when the server runs the handler; an event before that would be missed.
    await new Promise((r) => setTimeout(r, 300));

    const started = Date.now();
    const pod = podConfig('events');
    const { pod_sandbox_id: podId } = await bed.daemon.runtime.RunPodSandbox({ config: pod });
    const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('app', bed.busybox.reference, ['sleep', '1000']));
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 0 });
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: podId });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
    // The subscriber that reads nothing held up none of the RPCs.
    expect(Date.now() - started).toBeLessThan(15_000);

    const expected = [
      [podId, 'CONTAINER_CREATED_EVENT'],
      [podId, 'CONTAINER_STARTED_EVENT'],
      [id, 'CONTAINER_CREATED_EVENT'],
      [id, 'CONTAINER_STARTED_EVENT'],
      [id, 'CONTAINER_STOPPED_EVENT'],
      [podId, 'CONTAINER_STOPPED_EVENT'],
      [id, 'CONTAINER_DELETED_EVENT'],
      [podId, 'CONTAINER_DELETED_EVENT'],
    ];
    const kinds = (events: ContainerEventResponse__Output[]) => events.map((e) => [e.container_id, e.container_event_type]);
    await waitFor('both subscribers to see the whole lifecycle', async () => (first.length >= expected.length && second.length >= expected.length ? true : undefined));
    expect(kinds(first)).toEqual(expected);
    expect(kinds(second)).toEqual(expected);

    // Each event carries the pod's status and its containers' statuses as they were at that moment.
    const running = first[3]!;
    expect(running.pod_sandbox_status?.id).toBe(podId);
    expect(running.pod_sandbox_status?.state).toBe('SANDBOX_READY');
    expect(running.containers_statuses.map((c) => [c.id, c.state])).toEqual([[id, 'CONTAINER_RUNNING']]);
    expect(first[4]!.containers_statuses[0]?.state).toBe('CONTAINER_EXITED');
    expect(first[5]!.pod_sandbox_status?.state).toBe('SANDBOX_NOTREADY');
    expect(first[7]!.containers_statuses).toEqual([]);
    const times = first.map((e) => BigInt(e.created_at));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);

    for (const s of [...streams, stalled]) s.cancel();
  });

  it('keeps serving after subscribers leave', async () => {
    const stream = bed.daemon.runtime.GetContainerEvents({});
    const seen = collect(stream);
    await new Promise((r) => setTimeout(r, 200));
    stream.cancel();
    const pod = podConfig('after');
    const { pod_sandbox_id: podId } = await bed.daemon.runtime.RunPodSandbox({ config: pod });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
    expect(seen.length).toBeLessThanOrEqual(2);
  });
});
