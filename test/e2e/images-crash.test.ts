import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigHolder } from '../../config/config-holder.js';
import { loadConfigFile } from '../../config/load.js';
import { LocalContentStore } from '../../daemon/content/local-content-store.js';
import { openImageService, snapshotsDir } from '../../daemon/images/open.js';
import { OverlaySnapshotter } from '../../snapshotter/overlay-snapshotter.js';
import { busyboxImage, pushImage, type PushedImage } from '../fixtures/images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { startStallingProxy, type StallingProxy } from '../fixtures/stalling-proxy.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startBerthd, type BerthdHandle } from '../harness/berthd.js';

const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;

/** Pulls that die or stall half-way, and images other namespaces hold: what the CRI sees afterwards. */

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Keys in the snapshotter's metadata file (absent until its first snapshot). */
async function snapshotKeys(root: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(root, 'snapshots', 'metadata.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return Object.keys((JSON.parse(text) as { snapshots: object }).snapshots);
}

let registry: TestRegistry;
let proxy: StallingProxy;
let image: PushedImage;
let daemon: BerthdHandle | undefined;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startStallingProxy(registry.url);
  // A second layer of 4 MiB that does not compress, so its download is still under way when it stalls.
  const noise = Buffer.alloc(4 << 20);
  for (let i = 0; i < noise.length; i += 4) noise.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  image = await pushImage(registry, 'crash/app', '1', await busyboxImage({ layers: [{ entries: [{ path: 'noise.bin', content: noise }] }] }));
});
afterEach(async () => {
  proxy.release();
  await daemon?.cleanup();
  daemon = undefined;
});
afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
});

describe('a pull that does not finish', () => {
  it('leaves no image when the daemon is killed mid-download, and the next pull succeeds', async () => {
    daemon = await startBerthd();
    const reference = `${proxy.host}/crash/app:1`;
    const big = image.layers[1]?.digest as string;
    proxy.stall.add(big);
    const pulling = daemon.image.PullImage({ image: { image: reference } }).catch((err: unknown) => err);
    await until('the big layer to start downloading', () => (proxy.sent.get(big) ?? 0) > 0);
    // Kill once the bottom layer is committed, so the crash leaves a snapshot no image names.
    const root = daemon.root;
    await until('the bottom layer to be unpacked', async () => (await snapshotKeys(root)).includes(image.diffIds[0] as string));
    await daemon.kill();
    expect(((await pulling) as ServiceError).code).toBe(GrpcStatus.UNAVAILABLE);

    proxy.release();
    await daemon.restart();
    expect((await daemon.image.ListImages({})).images).toEqual([]);
    expect((await daemon.image.ImageStatus({ image: { image: reference } })).image).toBeNull();
    // The start-up sweep removed what the killed pull left: no snapshots, no blobs, no half-written ingests.
    expect(await snapshotKeys(daemon.root)).toEqual([]);
    expect(await readdir(join(daemon.root, 'content', 'blobs', 'sha256'))).toEqual([]);

    const { image_ref } = await daemon.image.PullImage({ image: { image: reference } });
    expect(image_ref).toBe(image.config.digest);
    expect((await daemon.image.ListImages({})).images.map((i) => i.repo_tags)).toEqual([[reference]]);
  });

  it('fails with DEADLINE_EXCEEDED when no bytes arrive for image_pull_progress_timeout', async () => {
    daemon = await startBerthd({ config: { cri: { image_pull_progress_timeout: '1s' } } });
    const reference = `${proxy.host}/crash/app:1`;
    proxy.stall.add(image.layers[1]?.digest as string);
    const started = Date.now();
    const err = await grpcFailure(daemon.image.PullImage({ image: { image: reference } }));
    expect(err.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(err.details).toContain(reference);
    expect(err.details).toContain('image_pull_progress_timeout');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await daemon.image.ListImages({})).images).toEqual([]);
  });
});

describe('namespaces', () => {
  it('hides other namespaces from the CRI and keeps the blobs they use when the CRI removes its image', async () => {
    daemon = await startBerthd();
    const { image_ref } = await daemon.image.PullImage({ image: { image: image.reference } });
    expect(image_ref).toBe(image.config.digest);
    const other = await pushImage(registry, 'moby/only', '1', await busyboxImage({ layers: [{ entries: [{ path: 'etc/moby', content: 'm' }] }] }));

    // A moby-namespace client (berthctl comes later) on the same root while the daemon is down.
    await daemon.stop();
    const config = loadConfigFile(daemon.configPath);
    const content = await LocalContentStore.open(config.root);
    const snapshotter = await OverlaySnapshotter.open(snapshotsDir(config));
    const images = await openImageService(new ConfigHolder(config), pino({ level: 'silent' }), { content, snapshotter });
    await images.pull('moby', image.reference);
    await images.pull('moby', other.reference);
    expect(images.list('moby')).toHaveLength(2);
    images.close();

    await daemon.restart();
    const listed = (await daemon.image.ListImages({})).images;
    expect(listed.map((i) => i.id)).toEqual([image.config.digest]);
    expect((await daemon.image.ImageStatus({ image: { image: other.reference } })).image).toBeNull();
    expect((await daemon.image.ImageStatus({ image: { image: other.config.digest } })).image).toBeNull();

    await daemon.image.RemoveImage({ image: { image: image.reference } });
    expect((await daemon.image.ListImages({})).images).toEqual([]);
    await daemon.stop();
    const blob = (digest: string): string => join(config.root, 'content', 'blobs', 'sha256', digest.slice(7));
    for (const d of [image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)]) expect(existsSync(blob(d)), d).toBe(true);
    const keys = await snapshotKeys(config.root);
    for (const diffID of image.diffIds.slice(0, 1)) expect(keys).toContain(diffID);
    expect(keys).toHaveLength(3); // busybox, busybox+noise, busybox+etc/moby
  });
});
