import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer } from '../../snapshotter/apply-layer.js';
import { SnapshotError } from '../../snapshotter/errors.js';
import { OverlaySnapshotter } from '../../snapshotter/overlay-snapshotter.js';
import { buildTar, type TarEntry } from '../../test/fixtures/layer-tar.js';
import { LocalContentStore } from '../content/local-content-store.js';
import { BerthError, isBerthError } from '../errors/errors.js';
import { imageGcChannel, imagePullChannel, type ImageGcEvent, type ImagePullEvent } from '../metrics/channels.js';
import { MediaType, type Descriptor, type Digest, type ImageConfig } from '../oci/image-spec.js';
import { formatReference, type ImageReference } from '../oci/reference.js';
import type { FetchOptions, RegistryClient } from '../registry/registry-client.js';
import { chainIDs } from './chain-id.js';
import { ImageService } from './image-service.js';

const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An in-memory registry: tags per repository, blobs by digest, with switches to misbehave. */
class FakeRegistry implements RegistryClient {
  readonly tags = new Map<string, Descriptor>();
  readonly blobs = new Map<Digest, Buffer>();
  readonly fetches = new Map<Digest, number>();
  /** Blobs that send their first bytes and then nothing. */
  readonly stall = new Set<Digest>();
  /** Blobs served with other bytes than their digest. */
  readonly corrupt = new Set<Digest>();
  /** Blobs served with these bytes instead. */
  readonly substitute = new Map<Digest, Buffer>();
  /** Blobs that send their first bytes, then wait for this promise. */
  readonly gates = new Map<Digest, Promise<void>>();
  delayMs = 0;

  add(bytes: Buffer, mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
    const desc: Descriptor = { mediaType, digest: sha(bytes), size: bytes.length, ...extra };
    this.blobs.set(desc.digest, bytes);
    return desc;
  }

  async resolve(ref: ImageReference): Promise<Descriptor> {
    if (ref.digest !== undefined) {
      const bytes = this.blobs.get(ref.digest);
      if (bytes === undefined) throw new BerthError('NotFound', `manifest ${ref.digest} not found`);
      return { mediaType: (JSON.parse(bytes.toString()) as { mediaType: string }).mediaType, digest: ref.digest, size: bytes.length };
    }
    const desc = this.tags.get(formatReference(ref));
    if (desc === undefined) throw new BerthError('NotFound', `${formatReference(ref)} not found in the registry`);
    return desc;
  }

  async fetch(_ref: ImageReference, desc: Descriptor, opts: FetchOptions = {}): Promise<Readable> {
    this.fetches.set(desc.digest, (this.fetches.get(desc.digest) ?? 0) + 1);
    let bytes = this.blobs.get(desc.digest);
    if (bytes === undefined) throw new BerthError('NotFound', `blob ${desc.digest} not found`);
    if (this.corrupt.has(desc.digest)) bytes = Buffer.from(bytes.map((b) => b ^ 0xff));
    bytes = this.substitute.get(desc.digest) ?? bytes;
    const { delayMs, stall } = this;
    const gate = this.gates.get(desc.digest);
    const body = bytes;
    async function* chunks(): AsyncGenerator<Buffer> {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      yield body.subarray(0, 16);
      await gate;
      if (stall.has(desc.digest)) await new Promise((_, reject) => opts.signal?.addEventListener('abort', () => reject(opts.signal?.reason)));
      // In network-sized pieces, so that a consumer that stops reading holds the download back, as a socket would.
      for (let at = 16; at < body.length; at += 64 * 1024) yield body.subarray(at, at + 64 * 1024);
    }
    return Readable.from(chunks());
  }

  close(): void {}
}

interface TestImage {
  manifest: Descriptor;
  config: ImageConfig;
  configDesc: Descriptor;
  layers: Descriptor[];
}

async function pushImage(reg: FakeRegistry, layers: TarEntry[][], opts: { arch?: string; user?: string } = {}): Promise<TestImage> {
  const layerDescs: Descriptor[] = [];
  const diffIDs: Digest[] = [];
  for (const entries of layers) {
    const gz = await buildTar(entries, { gzip: true });
    diffIDs.push(sha(gunzipSync(gz)));
    layerDescs.push(reg.add(gz, MediaType.ociLayerGzip));
  }
  const config: ImageConfig = {
    architecture: opts.arch ?? 'amd64',
    os: 'linux',
    config: { User: opts.user ?? '', Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIDs },
  };
  const configDesc = reg.add(Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDesc, layers: layerDescs }));
  const manifest = reg.add(manifestBytes, MediaType.ociManifest);
  return { manifest, config, configDesc, layers: layerDescs };
}

function tag(reg: FakeRegistry, name: string, desc: Descriptor): void {
  reg.tags.set(name, desc);
}

const silent = pino({ level: 'silent' });
let root: string;
let reg: FakeRegistry;
let snapshotter: OverlaySnapshotter;
let content: LocalContentStore;
let services: ImageService[];

async function openService(progressTimeoutMs = 5_000): Promise<ImageService> {
  content = await LocalContentStore.open(root);
  snapshotter = await OverlaySnapshotter.open(join(root, 'snapshots'));
  const service = await ImageService.open({
    root,
    snapshotsDir: join(root, 'snapshots'),
    content,
    registry: reg,
    snapshotter,
    applyLayer,
    pull: { maxConcurrentDownloads: 2, progressTimeoutMs, maxManifestBytes: 1 << 20 },
    layers: { maxUnpackedBytes: 1 << 26, maxEntries: 10_000 },
    logger: silent,
    platform: { os: 'linux', architecture: 'amd64' },
  });
  services.push(service);
  return service;
}

const file = (name: string, content: string): TarEntry => ({ name, content });

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-images-'));
  reg = new FakeRegistry();
  services = [];
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ImageService pull', () => {
  it('pulls by tag: layers unpacked as chain-ID snapshots, one record, one image view', async () => {
    const img = await pushImage(reg, [[file('bin/a', 'A'), { name: 'etc/', type: 'directory' }], [file('bin/b', 'B')]], { user: '1000:1000' });
    tag(reg, 'registry.test/app:1', img.manifest);
    const images = await openService();

    const record = await images.pull('k8s.io', 'registry.test/app:1');
    expect(record.configDigest).toBe(img.configDesc.digest);
    const chains = chainIDs(img.config.rootfs.diff_ids);
    expect(record.chainID).toBe(chains[1]);
    expect((await snapshotter.stat(chains[1] as string))?.kind).toBe('committed');
    expect((await snapshotter.stat(chains[1] as string))?.parent).toBe(chains[0]);
    expect((await snapshotter.list()).filter((s) => s.key.startsWith('extract-'))).toEqual([]);
    await snapshotter.view('check', chains[1]);
    const [top, bottom] = await snapshotter.lowerDirs('check');
    expect(await readFile(join(top as string, 'bin/b'), 'utf8')).toBe('B');
    expect(await readFile(join(bottom as string, 'bin/a'), 'utf8')).toBe('A');
    await snapshotter.remove('check');

    const [view] = images.list('k8s.io');
    expect(view?.id).toBe(img.configDesc.digest);
    expect(view?.repoTags).toEqual(['registry.test/app:1']);
    expect(view?.repoDigests).toEqual([`registry.test/app@${img.manifest.digest}`]);
    for (const q of ['registry.test/app:1', img.configDesc.digest, img.configDesc.digest.slice(7, 19), `registry.test/app@${img.manifest.digest}`]) {
      expect(images.resolve('k8s.io', q)?.id, q).toBe(img.configDesc.digest);
    }
    expect(images.resolve('k8s.io', 'registry.test/app:2')).toBeUndefined();
    const got = await images.get('k8s.io', 'registry.test/app:1');
    expect(got?.config.config?.User).toBe('1000:1000');
  });
});

describe('ImageService pull, continued', () => {
  it('picks the linux/amd64 manifest of an index and records the index as target', async () => {
    const amd = await pushImage(reg, [[file('arch', 'amd64')]]);
    const arm = await pushImage(reg, [[file('arch', 'arm64')]], { arch: 'arm64' });
    const index = reg.add(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.ociIndex,
          manifests: [
            { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } },
            { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
          ],
        }),
      ),
      MediaType.ociIndex,
    );
    tag(reg, 'registry.test/multi:1', index);
    const images = await openService();
    const record = await images.pull('k8s.io', 'registry.test/multi:1');
    expect(record.configDigest).toBe(amd.configDesc.digest);
    expect(record.target.digest).toBe(index.digest);
    expect(record.manifest.digest).toBe(amd.manifest.digest);
    expect(reg.fetches.has(arm.layers[0]?.digest as Digest)).toBe(false);
    expect(images.list('k8s.io')[0]?.repoDigests).toEqual([`registry.test/multi@${index.digest}`]);
  });

  it('shares downloads between concurrent pulls and skips layers already unpacked', async () => {
    const img = await pushImage(reg, [[file('a', '1')], [file('b', '2')], [file('c', '3')]]);
    tag(reg, 'registry.test/app:1', img.manifest);
    tag(reg, 'registry.test/app:2', img.manifest);
    reg.delayMs = 50;
    const images = await openService();
    const [r1, r2, r3] = await Promise.all([
      images.pull('k8s.io', 'registry.test/app:1'),
      images.pull('k8s.io', 'registry.test/app:1'),
      images.pull('k8s.io', 'registry.test/app:2'),
    ]);
    expect(r1).toBe(r2);
    expect(r3.configDigest).toBe(r1.configDigest);
    for (const l of img.layers) expect(reg.fetches.get(l.digest)).toBe(1);
    expect(images.list('k8s.io')[0]?.repoTags).toEqual(['registry.test/app:1', 'registry.test/app:2']);

    // Another image on the same bottom layers downloads only its own top layer.
    const more = await pushImage(reg, [[file('a', '1')], [file('b', '2')], [file('c', '3')], [file('d', '4')]]);
    tag(reg, 'registry.test/more:1', more.manifest);
    await content.delete(img.layers[0]?.digest as Digest);
    await images.pull('moby', 'registry.test/more:1');
    expect(reg.fetches.get(img.layers[0]?.digest as Digest)).toBe(1);
    expect(reg.fetches.get(more.layers[3]?.digest as Digest)).toBe(1);
  });

  it('refuses a blob whose bytes do not match its digest and records nothing', async () => {
    const img = await pushImage(reg, [[file('a', '1')], [file('b', '2')]]);
    tag(reg, 'registry.test/bad:1', img.manifest);
    reg.corrupt.add(img.layers[1]?.digest as Digest);
    const images = await openService();
    const err = await images.pull('k8s.io', 'registry.test/bad:1').catch((e: unknown) => e);
    expect(isBerthError(err, 'DataLoss')).toBe(true);
    expect(String((err as Error).message)).toContain('registry.test/bad:1');
    expect(images.list('k8s.io')).toEqual([]);
    expect(await content.info(img.layers[1]?.digest as Digest)).toBeUndefined();
    await images.collectGarbage();
    expect(await content.list()).toEqual([]);
    expect(await snapshotter.list()).toEqual([]);
  });

  it('unpacks the bottom layer while it downloads', async () => {
    const img = await pushImage(reg, [[file('a', '1')], [file('b', '2')]]);
    tag(reg, 'registry.test/stream:1', img.manifest);
    let open: () => void = () => undefined;
    reg.gates.set(img.layers[0]?.digest as Digest, new Promise<void>((resolve) => (open = resolve)));
    const images = await openService();
    const pulling = images.pull('k8s.io', 'registry.test/stream:1');
    // Half the blob is in: the layer's snapshot is already being written, and nothing is committed yet.
    while (!(await snapshotter.list()).some((s) => s.kind === 'active')) await new Promise((r) => setTimeout(r, 5));
    expect((await snapshotter.list()).filter((s) => s.kind === 'committed')).toEqual([]);
    open();
    expect((await pulling).chainID).toBe(chainIDs(img.config.rootfs.diff_ids)[1]);
    expect(await content.info(img.layers[0]?.digest as Digest)).toBeDefined();
  });

  it('commits a streamed layer only once its blob matches the digest, even when it unpacks fine', async () => {
    const img = await pushImage(reg, [[file('a', '1')]]);
    tag(reg, 'registry.test/recompressed:1', img.manifest);
    const layer = img.layers[0] as Descriptor;
    // Same size and the same tar inside; only the gzip header's OS byte differs, so only the digest check notices.
    const other = Buffer.from(reg.blobs.get(layer.digest) as Buffer);
    other[9] = (other[9] as number) ^ 0xff;
    reg.substitute.set(layer.digest, other);
    const images = await openService();
    const err = await images.pull('k8s.io', 'registry.test/recompressed:1').catch((e: unknown) => e);
    expect(isBerthError(err, 'DataLoss')).toBe(true);
    expect(String((err as Error).message)).toContain('does not match its digest');
    expect(await snapshotter.list()).toEqual([]);
    expect(await content.info(layer.digest)).toBeUndefined();
  });

  it('reports a streamed layer with wrong bytes as a digest mismatch, not as the invalid tar they unpack to', async () => {
    const img = await pushImage(reg, [[file('a', '1')]]);
    tag(reg, 'registry.test/garbage:1', img.manifest);
    reg.corrupt.add(img.layers[0]?.digest as Digest);
    const images = await openService();
    const err = await images.pull('k8s.io', 'registry.test/garbage:1').catch((e: unknown) => e);
    expect(isBerthError(err, 'DataLoss')).toBe(true);
    expect(await snapshotter.list()).toEqual([]);
  });

  it('fails promptly when a layer that streams from its download cannot be unpacked at all', async () => {
    const img = await pushImage(reg, [[{ name: 'big', content: randomBytes(8 << 20) }]]);
    tag(reg, 'registry.test/noprepare:1', img.manifest);
    const images = await openService();
    snapshotter.prepare = () => Promise.reject(new SnapshotError('FailedPrecondition', 'no room for a snapshot'));
    const err = await images.pull('k8s.io', 'registry.test/noprepare:1').catch((e: unknown) => e);
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    // The download was not left waiting for an unpack that never read it.
    expect(await content.info(img.layers[0]?.digest as Digest)).toBeDefined();
  });

  it('fails a pull whose download stalls for the progress timeout', async () => {
    const img = await pushImage(reg, [[file('a', 'x'.repeat(4096))]]);
    tag(reg, 'registry.test/slow:1', img.manifest);
    reg.stall.add(img.layers[0]?.digest as Digest);
    const images = await openService(300);
    const started = Date.now();
    const err = await images.pull('k8s.io', 'registry.test/slow:1').catch((e: unknown) => e);
    expect(isBerthError(err, 'DeadlineExceeded')).toBe(true);
    expect(String((err as Error).message)).toMatch(/registry.test\/slow:1.*no data arrived.*image_pull_progress_timeout/);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(images.list('k8s.io')).toEqual([]);
  });

  it('refuses a hostile layer with FailedPrecondition and leaves no snapshot', async () => {
    const img = await pushImage(reg, [[file('ok', '1')], [file('../../escape', 'x')]]);
    tag(reg, 'registry.test/evil:1', img.manifest);
    const images = await openService();
    const err = await images.pull('k8s.io', 'registry.test/evil:1').catch((e: unknown) => e);
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    expect(String((err as Error).message)).toMatch(/registry.test\/evil:1.*refused/);
    expect(images.list('k8s.io')).toEqual([]);
    expect((await snapshotter.list()).map((s) => s.key)).toEqual([chainIDs(img.config.rootfs.diff_ids)[0]]);
  });

  it('names the image when the registry does not have it, and refuses bad references', async () => {
    const images = await openService();
    const missing = await images.pull('k8s.io', 'registry.test/nope:1').catch((e: unknown) => e);
    expect(isBerthError(missing, 'NotFound')).toBe(true);
    expect(String((missing as Error).message)).toContain('registry.test/nope:1');
    const bad = await images.pull('k8s.io', 'Bad Ref!').catch((e: unknown) => e);
    expect(isBerthError(bad, 'InvalidArgument')).toBe(true);
    expect(String((bad as Error).message)).toContain('Bad Ref!');
  });
});

describe('ImageService remove, namespaces and GC', () => {
  it('keeps blobs another namespace uses and frees them with the last reference', async () => {
    const img = await pushImage(reg, [[file('a', '1')], [file('b', '2')]]);
    tag(reg, 'registry.test/app:1', img.manifest);
    const images = await openService();
    await images.pull('k8s.io', 'registry.test/app:1');
    await images.pull('moby', 'registry.test/app:1');
    expect(images.list('moby')).toHaveLength(1);

    await images.remove('k8s.io', img.configDesc.digest);
    expect(images.list('k8s.io')).toEqual([]);
    expect(images.list('moby')).toHaveLength(1);
    for (const l of img.layers) expect(await content.info(l.digest)).toBeDefined();
    expect(await snapshotter.list()).toHaveLength(2);

    await images.remove('moby', 'registry.test/app:1');
    expect(await content.list()).toEqual([]);
    expect(await snapshotter.list()).toEqual([]);
    // Idempotent.
    await images.remove('moby', 'registry.test/app:1');
  });

  it('removes a tag, a digest reference, or every name by ID', async () => {
    const img = await pushImage(reg, [[file('a', '1')]]);
    tag(reg, 'registry.test/app:1', img.manifest);
    tag(reg, 'registry.test/app:2', img.manifest);
    const images = await openService();
    await images.pull('k8s.io', 'registry.test/app:1');
    await images.pull('k8s.io', 'registry.test/app:2');
    await images.pull('k8s.io', `registry.test/app@${img.manifest.digest}`);
    expect(images.list('k8s.io')[0]?.repoTags).toHaveLength(2);

    await images.remove('k8s.io', 'registry.test/app:2');
    expect(images.list('k8s.io')[0]?.repoTags).toEqual(['registry.test/app:1']);
    await images.remove('k8s.io', `registry.test/app@${img.manifest.digest}`);
    expect(images.list('k8s.io')).toEqual([]);
    expect(await content.list()).toEqual([]);

    await images.pull('k8s.io', 'registry.test/app:1');
    await images.pull('k8s.io', 'registry.test/app:2');
    await images.remove('k8s.io', img.configDesc.digest.slice(7));
    expect(images.list('k8s.io')).toEqual([]);
  });

  it('never removes a chain a container snapshot or the container service still uses', async () => {
    const img = await pushImage(reg, [[file('a', '1')], [file('b', '2')]]);
    tag(reg, 'registry.test/app:1', img.manifest);
    const images = await openService();
    const record = await images.pull('k8s.io', 'registry.test/app:1');
    await snapshotter.prepare('container-1', record.chainID);
    await images.remove('k8s.io', 'registry.test/app:1');
    expect((await snapshotter.list()).map((s) => s.key).sort()).toEqual([...chainIDs(img.config.rootfs.diff_ids), 'container-1'].sort());
    await snapshotter.remove('container-1');

    images.setChainUsage({ isChainInUse: (c) => c === record.chainID });
    await images.collectGarbage();
    expect(await snapshotter.list()).toHaveLength(2);
    images.setChainUsage({ isChainInUse: () => false });
    await images.collectGarbage();
    expect(await snapshotter.list()).toEqual([]);
  });

  it('keeps images across a restart and sweeps what a killed pull left', async () => {
    const img = await pushImage(reg, [[file('a', '1')]]);
    tag(reg, 'registry.test/app:1', img.manifest);
    let images = await openService();
    await images.pull('k8s.io', 'registry.test/app:1');
    // What a pull killed mid-way leaves: an extract snapshot and a blob no record names.
    await snapshotter.prepare(`extract-0123-${'sha256:' + 'f'.repeat(64)}`);
    await content.ingest({ digest: sha(Buffer.from('orphan')), size: 6 }, async () => Readable.from([Buffer.from('orphan')]));

    images = await openService();
    expect(images.list('k8s.io')[0]?.repoTags).toEqual(['registry.test/app:1']);
    expect((await snapshotter.list()).map((s) => s.key)).toEqual(chainIDs(img.config.rootfs.diff_ids));
    expect(await content.info(sha(Buffer.from('orphan')))).toBeUndefined();
  });
});

describe('ImageService, a tag that moves', () => {
  it('frees the image the tag named before once nothing else names it', async () => {
    const v1 = await pushImage(reg, [[file('v', '1')]]);
    const v2 = await pushImage(reg, [[file('v', '2')]]);
    tag(reg, 'registry.test/app:latest', v1.manifest);
    const images = await openService();
    await images.pull('k8s.io', 'registry.test/app:latest');
    tag(reg, 'registry.test/app:latest', v2.manifest);
    const record = await images.pull('k8s.io', 'registry.test/app:latest');
    expect(record.configDigest).toBe(v2.configDesc.digest);
    await images.collectGarbage(); // joins the collection the pull started
    expect(await content.info(v1.layers[0]?.digest as Digest)).toBeUndefined();
    expect((await snapshotter.list()).map((s) => s.key)).toEqual(chainIDs(v2.config.rootfs.diff_ids));
    expect(images.list('k8s.io').map((v) => v.id)).toEqual([v2.configDesc.digest]);
  });
});

describe('ImageService, malformed documents', () => {
  it('refuses manifests and indexes that are not what they claim with DataLoss', async () => {
    const images = await openService();
    for (const [i, body] of ['null', '[1]', '{"schemaVersion":2,"config":null,"layers":[]}', '{"manifests":[null]}'].entries()) {
      tag(reg, `registry.test/odd:${i}`, reg.add(Buffer.from(body), i === 3 ? MediaType.ociIndex : MediaType.ociManifest));
      const err = await images.pull('k8s.io', `registry.test/odd:${i}`).catch((e: unknown) => e);
      expect(isBerthError(err, 'DataLoss'), `${body}: ${String(err)}`).toBe(true);
    }
    expect(images.list('k8s.io')).toEqual([]);
  });
});

describe('ImageService, collection during a pull', () => {
  it('never frees what a running pull has fetched or unpacked', async () => {
    const base = await pushImage(reg, [[file('a', '1')], [file('b', '2')]]);
    const img = await pushImage(reg, [[file('a', '1')], [file('b', '2')], [file('c', '3')], [file('d', '4')]]);
    tag(reg, 'registry.test/base:1', base.manifest);
    tag(reg, 'registry.test/app:1', img.manifest);
    const images = await openService();
    // Another namespace holds the bottom chains and lets go of them while the pull below builds on them.
    await images.pull('moby', 'registry.test/base:1');
    reg.delayMs = 30;
    const letGo = new Promise((r) => setTimeout(r, 10)).then(() => images.remove('moby', 'registry.test/base:1'));
    let collecting = true;
    const collector = (async () => {
      while (collecting) {
        await images.collectGarbage();
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const record = await images.pull('k8s.io', 'registry.test/app:1');
    await letGo;
    collecting = false;
    await collector;
    await images.collectGarbage();
    expect(record.chainID).toBe(chainIDs(img.config.rootfs.diff_ids).at(-1));
    expect((await snapshotter.list()).map((s) => s.key).sort()).toEqual([...chainIDs(img.config.rootfs.diff_ids)].sort());
    for (const l of img.layers) expect(await content.info(l.digest)).toBeDefined();
  });
});

describe('ImageService, observability', () => {
  it('publishes each pull and collection on the diagnostics channels the metrics read', async () => {
    const pulls: ImagePullEvent[] = [];
    const gcs: ImageGcEvent[] = [];
    const onPull = (e: unknown): void => void pulls.push(e as ImagePullEvent);
    const onGc = (e: unknown): void => void gcs.push(e as ImageGcEvent);
    imagePullChannel.subscribe(onPull);
    imageGcChannel.subscribe(onGc);
    try {
      const img = await pushImage(reg, [[file('a', '1')]]);
      tag(reg, 'registry.test/app:1', img.manifest);
      const images = await openService();
      await images.pull('k8s.io', 'registry.test/app:1');
      await images.pull('k8s.io', 'registry.test/none:1').catch(() => undefined);
      await images.remove('k8s.io', 'registry.test/app:1');
      const expected = img.manifest.size + img.configDesc.size + (img.layers[0]?.size ?? 0);
      expect(pulls.map((p) => [p.bytes, isBerthError(p.error) ? p.error.kind : undefined])).toEqual([
        [expected, undefined],
        [0, 'NotFound'],
      ]);
      expect(gcs.at(-1)).toEqual({ blobsRemoved: 3, snapshotsRemoved: 1 });
    } finally {
      imagePullChannel.unsubscribe(onPull);
      imageGcChannel.unsubscribe(onGc);
    }
  });
});

describe('ImageService, concurrent pulls of images sharing layers', () => {
  it('downloads and unpacks each shared layer once across namespaces', async () => {
    const shared = [[file('a', '1')], [file('b', '2')]];
    const one = await pushImage(reg, [...shared, [file('one', '1')]]);
    const two = await pushImage(reg, [...shared, [file('two', '2')]]);
    tag(reg, 'registry.test/one:1', one.manifest);
    tag(reg, 'registry.test/two:1', two.manifest);
    reg.delayMs = 20;
    const images = await openService();
    const [r1, r2] = await Promise.all([images.pull('k8s.io', 'registry.test/one:1'), images.pull('moby', 'registry.test/two:1')]);
    for (const l of one.layers.slice(0, 2)) expect(reg.fetches.get(l.digest)).toBe(1);
    const keys = (await snapshotter.list()).map((s) => s.key).sort();
    expect(keys).toEqual([...new Set([...chainIDs(one.config.rootfs.diff_ids), ...chainIDs(two.config.rootfs.diff_ids)])].sort());
    expect(keys).toHaveLength(4);
    expect(r1.chainID).not.toBe(r2.chainID);
  });
});
