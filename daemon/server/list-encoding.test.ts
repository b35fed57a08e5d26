import { describe, expect, it } from 'vitest';
import { loadCriPackage } from '../../proto/cri-proto.js';
import type { Container } from '../../proto/gen/runtime/v1/Container.js';
import type { ContainerState } from '../../proto/gen/runtime/v1/ContainerState.js';
import type { PodSandbox } from '../../proto/gen/runtime/v1/PodSandbox.js';
import { runtimeListFields } from '../cri/runtime/rpcs.js';
import { cacheItemEncodings } from './list-encoding.js';

const service = loadCriPackage().RuntimeService.service;
const cached = cacheItemEncodings(service, runtimeListFields);

const container = (id: string, state: ContainerState, labels: Record<string, string> = {}): Container => ({
  id,
  pod_sandbox_id: `pod-${id}`,
  metadata: { name: `c-${id}`, attempt: 1 },
  image: { image: 'busybox' },
  image_ref: 'sha256:abc',
  image_id: 'sha256:abc',
  state,
  created_at: '1700000000123000000',
  labels,
  annotations: { 'io.kubernetes.container.hash': id },
});

describe('cacheItemEncodings', () => {
  it('encodes list responses byte for byte as the whole-message encoder does', () => {
    const items = [container('a', 'CONTAINER_RUNNING', { app: 'x' }), container('b', 'CONTAINER_EXITED'), container('c', 'CONTAINER_CREATED')];
    for (const method of ['ListContainers', 'StreamContainers'] as const) {
      const value = { containers: items };
      expect(cached[method]!.responseSerialize(value)).toEqual(service[method].responseSerialize(value));
      // Again, now from the cache.
      expect(cached[method]!.responseSerialize(value)).toEqual(service[method].responseSerialize(value));
    }
    const pod: PodSandbox = { id: 'p', metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, state: 'SANDBOX_READY', created_at: '1', labels: {}, annotations: {}, runtime_handler: '' };
    expect(cached.ListPodSandbox!.responseSerialize({ items: [pod, pod] })).toEqual(service.ListPodSandbox.responseSerialize({ items: [pod, pod] }));
    expect(cached.ListContainers!.responseSerialize({ containers: [] })).toEqual(service.ListContainers.responseSerialize({ containers: [] }));
  });

  it('encodes a new item object afresh and leaves other methods alone', () => {
    const first = container('a', 'CONTAINER_RUNNING');
    const before = cached.ListContainers!.responseSerialize({ containers: [first] });
    const changed: Container = { ...first, state: 'CONTAINER_EXITED' };
    const after = cached.ListContainers!.responseSerialize({ containers: [changed] });
    expect(after).toEqual(service.ListContainers.responseSerialize({ containers: [changed] }));
    expect(after).not.toEqual(before);
    expect(cached.Version).toBe(service.Version);
  });
});
