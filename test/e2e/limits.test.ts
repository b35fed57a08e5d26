import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectCri } from '../../proto/cri-client.js';
import { busyboxImage, pushImage, type PushedImage } from '../fixtures/images.js';
import { cleanupPods, containerConfig, podConfig, runContainer, writeE2eCniConfig } from '../fixtures/pods.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startBerthd, type BerthdHandle } from '../harness/berthd.js';

const MiB = 1024 * 1024;
const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;
const mode = (path: string): string => (statSync(path).mode & 0o7777).toString(8).padStart(4, '0');

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

/**
 * Hard limits on hostile or careless input, and the file modes that keep other users of the node out: request
 * sizes, layer unpack limits, thousands of concurrent RPCs, socket/root/state/bundle/log permissions.
 */
describe('limits and permissions', () => {
  let registry: TestRegistry;
  let daemon: BerthdHandle;
  let busybox: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    busybox = await pushImage({ url: registry.url }, 'e2e/busybox', '1', await busyboxImage({ config: { Env: ['PATH=/bin', 'SECRET=hunter2'] } }));
    daemon = await startBerthd({ config: { images: { max_layer_entries: 600, max_layer_unpacked_bytes: 4 * MiB } } });
    await writeE2eCniConfig(daemon);
  });
  afterAll(async () => {
    await cleanupPods(daemon);
    await daemon?.cleanup();
    await registry?.stop();
  });

  it('refuses a 20 MiB request with RESOURCE_EXHAUSTED under the default max_recv_message_size', async () => {
    const request = { runtime_config: { network_config: { pod_cidr: 'x'.repeat(20 * MiB) } } };
    expect((await grpcFailure(daemon.runtime.UpdateRuntimeConfig(request))).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect((await daemon.runtime.Version({})).runtime_name).toBe('berth');
  });

  it('stops unpacking a layer over max_layer_entries or max_layer_unpacked_bytes, naming the key, and keeps nothing', async () => {
    const many = await pushImage({ url: registry.url }, 'e2e/many', '1', { layers: [{ entries: Array.from({ length: 700 }, (_, i) => ({ path: `f${i}`, content: 'x' })) }] });
    const big = await pushImage({ url: registry.url }, 'e2e/big', '1', { layers: [{ entries: [{ path: 'big.bin', content: Buffer.alloc(5 * MiB, 1) }] }] });
    const entries = await grpcFailure(daemon.image.PullImage({ image: { image: many.reference } }));
    expect(entries.details).toContain('max_layer_entries');
    const bytes = await grpcFailure(daemon.image.PullImage({ image: { image: big.reference } }));
    expect(bytes.details).toContain('max_layer_unpacked_bytes');
    expect((await daemon.image.ListImages({})).images).toEqual([]);
    const snapshots = JSON.parse(readFileSync(join(daemon.root, 'snapshots', 'metadata.json'), 'utf8')) as { snapshots: object };
    expect(Object.keys(snapshots.snapshots)).toEqual([]);
  });

  it('serves 3000 concurrent RPCs without keeping their fds or memory', async () => {
    const pid = daemon.pid;
    // Warm up first, so lazily built state (and V8's heap growth) does not count as a leak.
    await Promise.all(Array.from({ length: 200 }, () => daemon.runtime.Version({})));
    const fdsBefore = fdCount(pid);
    const rssBefore = rssBytes(pid);
    // Ten connections, 300 calls in flight on each.
    const clients = Array.from({ length: 10 }, () => connectCri(daemon.socket));
    try {
      const calls = clients.flatMap((c) =>
        Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? c.runtime.Version({}) : c.runtime.ListContainers({}))),
      );
      const results = await Promise.allSettled(calls);
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    } finally {
      for (const c of clients) c.close();
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(fdCount(pid)).toBeLessThanOrEqual(fdsBefore + 5);
    expect(rssBytes(pid)).toBeLessThan(rssBefore + 128 * MiB);
    expect((await daemon.runtime.Version({})).runtime_name).toBe('berth');
  });

  it('keeps the socket, root, state, bundles, config.json and logs closed to other users', async () => {
    await daemon.image.PullImage({ image: { image: busybox.reference } });
    const logDir = join(daemon.dir, 'pod-logs');
    const pod = podConfig('perms', { log_directory: logDir });
    const podId = (await daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    const id = await runContainer(daemon.runtime, podId, pod, containerConfig('perms', busybox.reference, ['sleep', '1000']));
    const bundle = join(daemon.state, 'k8s.io', id);
    const found = {
      socket: mode(daemon.socket),
      root: mode(daemon.root),
      metadata: mode(join(daemon.root, 'metadata')),
      state: mode(daemon.state),
      namespace: mode(join(daemon.state, 'k8s.io')),
      podDir: mode(join(daemon.state, 'k8s.io', podId)),
      bundle: mode(bundle),
      config: mode(join(bundle, 'config.json')),
      runcRoot: mode(join(daemon.state, 'runc', 'k8s.io')),
      log: mode(join(logDir, 'perms.log')),
      shimLog: mode(join(bundle, 'shim.log')),
    };
    expect(found).toEqual({
      socket: '0660',
      root: '0700',
      metadata: '0700',
      state: '0711',
      namespace: '0700',
      podDir: '0700',
      bundle: '0700',
      config: '0600',
      runcRoot: '0700',
      log: '0640',
      shimLog: '0640',
    });
    // The secret in the image's environment is in config.json, which only root may read.
    expect(readFileSync(join(bundle, 'config.json'), 'utf8')).toContain('SECRET=hunter2');
    await daemon.runtime.StopPodSandbox({ pod_sandbox_id: podId });
    await daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  });
});
