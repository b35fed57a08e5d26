import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { connectCri } from '../../proto/cri-client.js';
import { pushImage } from '../fixtures/images.js';
import { containerConfig, podConfig, runContainer, usePodTestBed } from '../fixtures/pods.js';
import { rejectionOf } from '../fixtures/rejection.js';

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
  const bed = usePodTestBed({ busybox: { config: { Env: ['PATH=/bin', 'SECRET=hunter2'] } }, berthd: { config: { images: { max_layer_entries: 600, max_layer_unpacked_bytes: 4 * MiB } } }, pull: false });

  it('refuses a 20 MiB request with RESOURCE_EXHAUSTED under the default max_recv_message_size', async () => {
    const request = { runtime_config: { network_config: { pod_cidr: 'x'.repeat(20 * MiB) } } };
    expect((await grpcFailure(bed.daemon.runtime.UpdateRuntimeConfig(request))).code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect((await bed.daemon.runtime.Version({})).runtime_name).toBe('berth');
  });

  it('stops unpacking a layer over max_layer_entries or max_layer_unpacked_bytes, naming the key, and keeps nothing', async () => {
    const many = await pushImage({ url: bed.registry.url }, 'e2e/many', '1', { layers: [{ entries: Array.from({ length: 700 }, (_, i) => ({ path: `f${i}`, content: 'x' })) }] });
    const big = await pushImage({ url: bed.registry.url }, 'e2e/big', '1', { layers: [{ entries: [{ path: 'big.bin', content: Buffer.alloc(5 * MiB, 1) }] }] });
    const entries = await grpcFailure(bed.daemon.image.PullImage({ image: { image: many.reference } }));
    expect(entries.details).toContain('max_layer_entries');
    const bytes = await grpcFailure(bed.daemon.image.PullImage({ image: { image: big.reference } }));
    expect(bytes.details).toContain('max_layer_unpacked_bytes');
    expect((await bed.daemon.image.ListImages({})).images).toEqual([]);
    const snapshots = JSON.parse(readFileSync(join(bed.daemon.root, 'snapshots', 'metadata.json'), 'utf8')) as { snapshots: object };
    expect(Object.keys(snapshots.snapshots)).toEqual([]);
  });

  it('serves 3000 concurrent RPCs without keeping their fds or memory', async () => {
    const pid = bed.daemon.pid;
    // Warm up first, so lazily built state (and V8's heap growth) does not count as a leak.
    await Promise.all(Array.from({ length: 200 }, () => bed.daemon.runtime.Version({})));
    const fdsBefore = fdCount(pid);
    const rssBefore = rssBytes(pid);
    // Ten connections, 300 calls in flight on each.
    const clients = Array.from({ length: 10 }, () => connectCri(bed.daemon.socket));
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
    expect((await bed.daemon.runtime.Version({})).runtime_name).toBe('berth');
  });

  it('keeps the socket, root, state, bundles, config.json and logs closed to other users', async () => {
    await bed.daemon.image.PullImage({ image: { image: bed.busybox.reference } });
    const logDir = join(bed.daemon.dir, 'pod-logs');
    const pod = podConfig('perms', { log_directory: logDir });
    const podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('perms', bed.busybox.reference, ['sleep', '1000']));
    const bundle = join(bed.daemon.state, 'k8s.io', id);
    const found = {
      socket: mode(bed.daemon.socket),
      root: mode(bed.daemon.root),
      metadata: mode(join(bed.daemon.root, 'metadata')),
      state: mode(bed.daemon.state),
      namespace: mode(join(bed.daemon.state, 'k8s.io')),
      podDir: mode(join(bed.daemon.state, 'k8s.io', podId)),
      bundle: mode(bundle),
      config: mode(join(bundle, 'config.json')),
      runcRoot: mode(join(bed.daemon.state, 'runc', 'k8s.io')),
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
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: podId });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
  });
});
