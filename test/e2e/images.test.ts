import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountAll, unmount } from '../../snapshotter/mount.js';
import { OverlaySnapshotter } from '../../snapshotter/overlay-snapshotter.js';
import { busyboxImage, pushImage, pushMultiPlatformBusybox, type PushedImage, type PushedIndex } from '../fixtures/images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startBerthd, type BerthdHandle } from '../harness/berthd.js';

const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;

/** The CRI ImageService end to end: berthd's socket, a real docker-registry, real content store and overlayfs. */

describe('CRI ImageService', () => {
  let registry: TestRegistry;
  let daemon: BerthdHandle;
  let busybox: PushedImage;
  let multi: PushedIndex;
  let byDigestOnly: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry();
    const target = { url: registry.url };
    busybox = await pushImage(target, 'library/busybox', '1', await busyboxImage({ config: { User: '65534', Cmd: ['sh'] } }));
    multi = await pushMultiPlatformBusybox(target, 'multi', '1');
    byDigestOnly = await pushImage(target, 'pinned', 'x', await busyboxImage({ layers: [{ entries: [{ path: 'etc/pinned', content: 'yes' }] }] }));
    daemon = await startBerthd({ config: { cri: { sandbox_image: multi.reference } } });
  });
  afterAll(async () => {
    await daemon?.cleanup();
    await registry?.stop();
  });

  it('pulls by tag: image_ref is the image ID, listed with its tag and repo digest', async () => {
    const { image_ref } = await daemon.image.PullImage({ image: { image: busybox.reference } });
    expect(image_ref).toBe(busybox.config.digest);
    const { images } = await daemon.image.ListImages({});
    expect(images).toHaveLength(1);
    expect(images[0]).toMatchObject({
      id: busybox.config.digest,
      repo_tags: [busybox.reference],
      repo_digests: [busybox.digestReference],
      uid: { value: '65534' },
      username: '',
      pinned: false,
    });
    expect(Number(images[0]?.size)).toBe(busybox.manifest.size + busybox.config.size + busybox.layers.reduce((n, l) => n + l.size, 0));
  });

  it('answers ImageStatus by tag, ID, ID prefix and digest reference, and null when absent', async () => {
    for (const image of [busybox.reference, busybox.config.digest, busybox.config.digest.slice(7, 19), busybox.digestReference]) {
      const { image: got } = await daemon.image.ImageStatus({ image: { image } });
      expect(got?.id, image).toBe(busybox.config.digest);
    }
    const absent = await daemon.image.ImageStatus({ image: { image: `${registry.host}/library/busybox:nope` } });
    expect(absent.image).toBeNull();
    const verbose = await daemon.image.ImageStatus({ image: { image: busybox.reference }, verbose: true });
    const info = JSON.parse(verbose.info['info'] ?? '{}') as { imageSpec: { rootfs: { diff_ids: string[] } }; chainID: string };
    expect(info.imageSpec.rootfs.diff_ids).toEqual(busybox.diffIds);
    expect(info.chainID).toBe(busybox.diffIds[0]);
  });

  it('pulls by digest: the image has a repo digest and no tag', async () => {
    const { image_ref } = await daemon.image.PullImage({ image: { image: byDigestOnly.digestReference } });
    expect(image_ref).toBe(byDigestOnly.config.digest);
    const { image } = await daemon.image.ImageStatus({ image: { image: byDigestOnly.digestReference } });
    expect(image).toMatchObject({ repo_tags: [], repo_digests: [byDigestOnly.digestReference] });
  });

  it('picks linux/amd64 from a multi-platform index (and pins it: it is the sandbox image)', async () => {
    const amd64 = multi.images.find((i) => i.platform.architecture === 'amd64');
    const { image_ref } = await daemon.image.PullImage({ image: { image: multi.reference } });
    expect(image_ref).toBe(amd64?.config.digest);
    const { image } = await daemon.image.ImageStatus({ image: { image: multi.reference } });
    expect(image?.repo_digests).toEqual([multi.digestReference]);
    expect(image?.pinned).toBe(true);
  });

  it('pulls a Docker manifest list of Docker schema 2 manifests', async () => {
    const docker = await pushMultiPlatformBusybox({ url: registry.url }, 'docker-format', '1', 'docker');
    const amd64 = docker.images.find((i) => i.platform.architecture === 'amd64');
    const { image_ref } = await daemon.image.PullImage({ image: { image: docker.reference } });
    expect(image_ref).toBe(amd64?.config.digest);
    // The same config as the OCI busybox: one image with both tags; removing the tag keeps the other.
    await daemon.image.RemoveImage({ image: { image: docker.reference } });
    expect((await daemon.image.ImageStatus({ image: { image: image_ref } })).image?.repo_tags).toEqual([multi.reference]);
  });

  it('pulls through a hosts.toml mirror for a registry name that does not resolve', async () => {
    const hostDir = join(daemon.dir, 'certs.d', 'registry.example.test');
    await mkdir(hostDir, { recursive: true });
    await writeFile(join(hostDir, 'hosts.toml'), `server = "${registry.url}"\n`);
    const { image_ref } = await daemon.image.PullImage({ image: { image: 'registry.example.test/library/busybox:1' } });
    expect(image_ref).toBe(busybox.config.digest);
    const { image } = await daemon.image.ImageStatus({ image: { image: busybox.config.digest } });
    expect(image?.repo_tags).toEqual(['registry.example.test/library/busybox:1', busybox.reference].sort());
  });

  it('fails clearly on a bad reference and on an image the registry lacks', async () => {
    const bad = await grpcFailure(daemon.image.PullImage({ image: { image: 'UPPER/Case:1' } }));
    expect(bad.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(bad.details).toContain('UPPER/Case:1');
    const missing = await grpcFailure(daemon.image.PullImage({ image: { image: `${registry.host}/library/nothing:1` } }));
    expect(missing.code).toBe(GrpcStatus.NOT_FOUND);
    expect(missing.details).toContain(`${registry.host}/library/nothing:1`);
    const empty = await grpcFailure(daemon.image.PullImage({ image: { image: '' } }));
    expect(empty.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it('refuses a blob whose bytes do not match its digest and records nothing', async () => {
    const target = { url: registry.url };
    const tampered = await pushImage(target, 'tampered', '1', await busyboxImage({ layers: [{ entries: [{ path: 'etc/t', content: 'original' }] }] }));
    const top = tampered.layers[1];
    if (top === undefined) throw new Error('fixture image has no second layer');
    await registry.tamperBlob(top.digest, Buffer.alloc(top.size, 0x41));
    const err = await grpcFailure(daemon.image.PullImage({ image: { image: tampered.reference } }));
    expect(err.code).toBe(GrpcStatus.DATA_LOSS);
    expect(err.details).toContain(tampered.reference);
    expect((await daemon.image.ImageStatus({ image: { image: tampered.reference } })).image).toBeNull();
  });

  it('refuses a hostile layer and leaves the host untouched', async () => {
    const escape = `/tmp/berth-escape-${process.pid}-${Date.now()}`;
    const target = { url: registry.url };
    const hostile = await pushImage(target, 'hostile', '1', {
      layers: [{ entries: [{ path: 'ok', content: 'fine' }] }, { entries: [{ path: `../../../../../../..${escape}`, content: 'pwned' }] }],
    });
    const err = await grpcFailure(daemon.image.PullImage({ image: { image: hostile.reference } }));
    expect(err.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(err.details).toContain(hostile.reference);
    expect(existsSync(escape)).toBe(false);
    expect((await daemon.image.ImageStatus({ image: { image: hostile.reference } })).image).toBeNull();
  });

  it('streams the same images as ListImages', async () => {
    const streamed: string[] = [];
    for await (const page of daemon.image.StreamImages({})) streamed.push(...(page as { images: Array<{ id: string }> }).images.map((i) => i.id));
    const listed = (await daemon.image.ListImages({})).images.map((i) => i.id);
    expect(streamed.sort()).toEqual(listed.sort());
    expect(listed.length).toBeGreaterThan(1);
  });

  it('reports the snapshotter directory in ImageFsInfo', async () => {
    const { image_filesystems } = await daemon.image.ImageFsInfo({});
    expect(image_filesystems).toHaveLength(1);
    expect(image_filesystems[0]?.fs_id?.mountpoint).toBe(join(daemon.root, 'snapshots'));
    expect(Number(image_filesystems[0]?.used_bytes?.value)).toBeGreaterThan(500_000);
    expect(Number(image_filesystems[0]?.inodes_used?.value)).toBeGreaterThan(100);
  });

  it('keeps images across a restart', async () => {
    const before = await daemon.image.ListImages({});
    await daemon.restart();
    const after = await daemon.image.ListImages({});
    expect(after.images.map((i) => i.id).sort()).toEqual(before.images.map((i) => i.id).sort());
    expect(after.images.find((i) => i.id === busybox.config.digest)?.repo_tags).toHaveLength(2);
  });

  it('removes by tag, by digest and by ID, idempotently', async () => {
    await daemon.image.RemoveImage({ image: { image: 'registry.example.test/library/busybox:1' } });
    expect((await daemon.image.ImageStatus({ image: { image: busybox.config.digest } })).image?.repo_tags).toEqual([busybox.reference]);
    await daemon.image.RemoveImage({ image: { image: busybox.digestReference } });
    expect((await daemon.image.ImageStatus({ image: { image: busybox.config.digest } })).image).toBeNull();
    await daemon.image.RemoveImage({ image: { image: busybox.digestReference } });

    await daemon.image.RemoveImage({ image: { image: byDigestOnly.config.digest } });
    await daemon.image.RemoveImage({ image: { image: byDigestOnly.config.digest } });
    expect((await daemon.image.ImageStatus({ image: { image: byDigestOnly.digestReference } })).image).toBeNull();
    expect((await daemon.image.ListImages({})).images.map((i) => i.repo_tags)).toEqual([[multi.reference]]);
  });

  it('gives a rootfs with /bin/busybox through a view snapshot on the image chain', async () => {
    const { image } = await daemon.image.ImageStatus({ image: { image: multi.reference }, verbose: true });
    expect(image).not.toBeNull();
    const { info } = await daemon.image.ImageStatus({ image: { image: multi.reference }, verbose: true });
    const chainID = (JSON.parse(info['info'] ?? '{}') as { chainID: string }).chainID;
    // The daemon owns the snapshotter while it runs; look at its root once it is stopped.
    await daemon.stop();
    const snapshotter = await OverlaySnapshotter.open(join(daemon.root, 'snapshots'));
    const target = await mkdtemp('/var/tmp/berth-view-');
    const mounts = await snapshotter.view('test-view', chainID);
    await mountAll(mounts, target);
    try {
      expect(existsSync(join(target, 'bin/busybox'))).toBe(true);
      expect(existsSync(join(target, 'bin/sh'))).toBe(true);
    } finally {
      unmount(target);
      await snapshotter.remove('test-view');
      await rm(target, { recursive: true, force: true });
    }
  });
});
