import { describe, expect, it } from 'vitest';
import { STREAMING_RPCS } from './cri-client.js';
import { loadCriPackage } from './cri-proto.js';

describe('the CRI package', () => {
  const cri = loadCriPackage();
  const methods = { ...cri.RuntimeService.service, ...cri.ImageService.service };

  it('has the runtime.v1 services at their published paths', () => {
    expect(cri.RuntimeService.service.Version.path).toBe('/runtime.v1.RuntimeService/Version');
    expect(cri.ImageService.service.PullImage.path).toBe('/runtime.v1.ImageService/PullImage');
    expect(Object.keys(cri.RuntimeService.service)).toHaveLength(35);
    expect(Object.keys(cri.ImageService.service)).toHaveLength(6);
  });

  it('lists exactly the server-streaming RPCs in STREAMING_RPCS', () => {
    const streaming = Object.entries(methods)
      .filter(([, m]) => m.responseStream)
      .map(([name]) => name);
    expect(streaming.sort()).toEqual([...STREAMING_RPCS].sort());
    expect(Object.values(methods).some((m) => m.requestStream)).toBe(false);
  });

  it('encodes int64 as decimal strings and enums as names, keeping snake_case', () => {
    const type = cri.ContainerStatus;
    const bytes = type.serialize({ id: 'c', created_at: '9007199254740993', state: 'CONTAINER_EXITED', exit_code: 3 });
    const decoded = type.deserialize(bytes);
    expect(decoded).toMatchObject({ id: 'c', created_at: '9007199254740993', state: 'CONTAINER_EXITED', exit_code: 3 });
    // defaults: absent scalars are filled, absent messages are null.
    expect(decoded).toMatchObject({ started_at: '0', reason: '', labels: {}, mounts: [], metadata: null });
  });
});
