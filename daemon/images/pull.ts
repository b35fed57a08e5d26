import type { Logger } from 'pino';
import type { ContentStore } from '../content/content-store.js';
import { imagePullChannel, type ImagePullEvent } from '../metrics/channels.js';
import { BerthError, invalidArgument } from '../errors/errors.js';
import { faultPoint } from '../faults/fault-point.js';
import { isDigest } from '../oci/digest.js';
import { MediaType, type Descriptor, type Digest, type ImageConfig, type ImageIndex, type ImageManifest, type Platform } from '../oci/image-spec.js';
import { formatReference, parseReference, type ImageReference } from '../oci/reference.js';
import type { RegistryAuth, RegistryClient } from '../registry/registry-client.js';
import { chainIDs } from './chain-id.js';
import { DownloadLimiter } from './download-limiter.js';
import { LayerTap } from './layer-tap.js';
import type { GarbageCollector, Lease } from './gc.js';
import type { ImageRecord, ImageStore } from './image-store.js';
import { selectManifest } from './platform.js';
import { ProgressWatchdog } from './progress-watchdog.js';
import { asBerthError } from './snapshot-errors.js';
import type { Unpacker } from './unpack.js';

export interface PullLimits {
  maxConcurrentDownloads: number;
  /** No bytes for this long while downloading fails the pull; 0 disables. */
  progressTimeoutMs: number;
  maxManifestBytes: number;
}

/** One blob of a pull as a progress display shows it. */
export interface BlobProgress {
  digest: Digest;
  mediaType: string;
  size: number;
  downloaded: number;
  /** "exists": already in the content store, nothing to download. */
  status: 'waiting' | 'downloading' | 'done' | 'exists';
}

/** Called on every change with every blob known so far (manifest, config, layers) in the order they were met. */
export type PullProgressListener = (blobs: readonly BlobProgress[]) => void;

export interface PullOptions {
  auth?: RegistryAuth;
  /** Progress of this pull, also when it joins a pull of the same name already running. */
  onProgress?: PullProgressListener;
}

/** One pull's state, threaded through its downloads. */
interface PullRun {
  ref: ImageReference;
  /** Bytes of the blobs this pull found missing and ingested (for the pull metrics). */
  bytes: number;
  name: string;
  lease: Lease;
  fetchOpts: { auth?: RegistryAuth; signal: AbortSignal };
  watchdog: ProgressWatchdog;
  progress: PullProgress;
}

/** The blobs of one pull and who watches them; joined pulls add their listener. */
class PullProgress {
  readonly listeners = new Set<PullProgressListener>();
  private readonly blobs = new Map<Digest, BlobProgress>();

  update(desc: Descriptor, change: Partial<BlobProgress>): void {
    const blob = this.blobs.get(desc.digest) ?? { digest: desc.digest, mediaType: desc.mediaType, size: desc.size, downloaded: 0, status: 'waiting' };
    this.blobs.set(desc.digest, { ...blob, ...change });
    if (this.listeners.size === 0) return;
    const all = [...this.blobs.values()];
    for (const listener of this.listeners) listener(all);
  }
}

/** The name an image is recorded under: a digest reference drops its tag, as Docker and containerd do. */
export function recordName(ref: ImageReference): string {
  const { tag, ...rest } = ref;
  return formatReference(ref.digest !== undefined ? rest : ref);
}

const schema1 = new Set<string>([MediaType.dockerManifestSchema1, MediaType.dockerManifestSchema1Signed]);

/**
 * Pulls images: resolve → manifest or index (platform chosen) → config → layers, downloading up to the limit in
 * parallel while unpacking each layer as soon as the layers below it are committed: from the content store once
 * downloaded, or straight from its download when that has not started yet (layer-tap.ts). The record is written
 * last, so a pull that dies half-way leaves no visible image, only content GC can collect.
 */
export class Puller {
  private readonly limiter: DownloadLimiter;
  private readonly inflight = new Map<string, { pulling: Promise<ImageRecord>; progress: PullProgress }>();

  constructor(
    private readonly store: ImageStore,
    private readonly content: ContentStore,
    private readonly registry: RegistryClient,
    private readonly unpacker: Unpacker,
    private readonly gc: GarbageCollector,
    private readonly limits: PullLimits,
    private readonly platform: Platform,
    private readonly logger: Logger,
  ) {
    this.limiter = new DownloadLimiter(limits.maxConcurrentDownloads);
  }

  /** Pulls `reference` into `namespace`; a pull of the same name already running is joined, not repeated. */
  pull(namespace: string, reference: string, opts: PullOptions = {}): Promise<ImageRecord> {
    const ref = parseReference(reference);
    const name = recordName(ref);
    const key = `${namespace}\u0000${name}`;
    const running = this.inflight.get(key);
    if (running !== undefined) return this.watch(running, opts.onProgress);
    const lease = this.gc.lease();
    const progress = new PullProgress();
    const pulling = this.execute(namespace, ref, name, lease, opts, progress).finally(() => {
      this.inflight.delete(key);
      lease.release();
    });
    const entry = { pulling, progress };
    this.inflight.set(key, entry);
    return this.watch(entry, opts.onProgress);
  }

  private watch(entry: { pulling: Promise<ImageRecord>; progress: PullProgress }, listener: PullProgressListener | undefined): Promise<ImageRecord> {
    if (listener === undefined) return entry.pulling;
    entry.progress.listeners.add(listener);
    return entry.pulling.finally(() => entry.progress.listeners.delete(listener));
  }

  private async execute(namespace: string, ref: ImageReference, name: string, lease: Lease, opts: PullOptions, progress: PullProgress): Promise<ImageRecord> {
    const started = Date.now();
    const controller = new AbortController();
    const signal = controller.signal;
    const watchdog = new ProgressWatchdog(
      this.limits.progressTimeoutMs,
      controller,
      () =>
        new BerthError(
          'DeadlineExceeded',
          `pulling image "${name}": no data arrived from the registry for ${this.limits.progressTimeoutMs / 1000}s; ` +
            'check the registry or raise cri.image_pull_progress_timeout',
          { context: { image: name } },
        ),
    );
    const run: PullRun = { ref, bytes: 0, name, lease, fetchOpts: { auth: opts.auth, signal }, watchdog, progress };
    try {
      const target = await this.registry.resolve(ref, run.fetchOpts);
      let manifestDesc = target;
      let doc = await this.fetchJson(run, target);
      if (isIndex(target, doc)) {
        manifestDesc = selectManifest(checkIndex(doc, target, name).manifests, this.platform, name);
        doc = await this.fetchJson(run, manifestDesc);
      }
      const manifest = checkManifest(doc, manifestDesc, name);
      const config = checkConfig(await this.fetchJson(run, manifest.config), manifest, name);
      const diffIDs = config.rootfs.diff_ids;
      const chains = chainIDs(diffIDs);
      for (const c of chains) lease.chains.add(c);

      // Layers below the highest chain already unpacked need neither download nor unpack.
      let first = chains.length;
      while (first > 0 && !(await this.unpacker.isUnpacked(chains[first - 1] as Digest))) first--;
      if (first > 0) await this.gc.settled(chains[first - 1] as Digest);
      if (first > 0 && !(await this.unpacker.isUnpacked(chains[first - 1] as Digest))) first = 0; // collected meanwhile

      const taps = manifest.layers.slice(first).map(() => new LayerTap());
      const downloads = manifest.layers.slice(first).map((layer, i) => this.download(run, layer, taps[i]));
      // Every download is awaited below or its failure is reported by the first await that throws; none may
      // reject unobserved once an earlier layer has failed.
      for (const d of downloads) d.catch(() => undefined);
      for (let i = first; i < manifest.layers.length; i++) {
        const downloaded = downloads[i - first] as Promise<void>;
        const tap = taps[i - first] as LayerTap;
        const layer = await tap.claim(downloaded);
        if (layer === undefined) await downloaded;
        let failed: { err: unknown } | undefined;
        try {
          await this.unpacker.unpack({
            imageName: name,
            layer: manifest.layers[i] as Descriptor,
            diffID: diffIDs[i] as Digest,
            chainID: chains[i] as Digest,
            parent: chains[i - 1],
            signal,
            ...(layer !== undefined ? { streaming: { layer, verified: downloaded } } : {}),
          });
        } catch (err) {
          failed = { err };
        }
        // What the unpack did not read of the download (it failed before reading, or another pull had unpacked the
        // chain meanwhile) is discarded, so that the download never waits for it.
        tap.release();
        if (failed !== undefined) {
          // Bytes that did not download right (a wrong digest, a broken-off stream) are reported as that, not as
          // whatever unpacking them made of it.
          if (layer !== undefined) await downloaded;
          throw failed.err;
        }
        faultPoint('pull-image:after-layer');
      }

      const record: ImageRecord = {
        name,
        target,
        manifest: manifestDesc,
        configDigest: manifest.config.digest,
        layers: manifest.layers,
        diffIDs,
        ...(chains.length > 0 ? { chainID: chains.at(-1) } : {}),
        size: manifestDesc.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
        createdAt: Date.now(),
        platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
      };
      const replaced = this.store.get(namespace, name);
      faultPoint('pull-image:before-record');
      await this.store.put(namespace, record);
      this.logger.info({ namespace, image: name, id: record.configDigest, ms: Date.now() - started }, 'image pulled');
      if (replaced !== undefined && replaced.configDigest !== record.configDigest) {
        // The tag moved: the image it named may now have no name left, and nothing else would ever free it.
        this.gc.collect().catch((err: unknown) => this.logger.warn({ err, image: name }, 'garbage collection after a moved tag failed'));
      }
      publishPull(run, started);
      return record;
    } catch (err) {
      const cause: unknown = signal.aborted ? signal.reason : err;
      // Downloads of later layers still running are of no use now.
      controller.abort(cause);
      const failure = pullError(cause, name, ref);
      publishPull(run, started, failure);
      throw failure;
    } finally {
      watchdog.stop();
    }
  }

  /** Downloads a manifest, index or config (size-capped) and parses it. */
  private async fetchJson(run: PullRun, desc: Descriptor): Promise<JsonObject> {
    const { name } = run;
    const max = this.limits.maxManifestBytes;
    if (desc.size > max) {
      throw new BerthError('ResourceExhausted', `image "${name}": ${desc.mediaType} ${desc.digest} is ${desc.size} bytes, over images.max_manifest_bytes (${max})`);
    }
    await this.download(run, desc);
    const bytes = await this.content.readAll(desc.digest, max);
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      throw new BerthError('DataLoss', `image "${name}": ${desc.digest} is not valid JSON (${(err as Error).message})`, { cause: err });
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new BerthError('DataLoss', `image "${name}": ${desc.digest} is not a JSON object`);
    }
    return doc as JsonObject;
  }

  /** Downloads a blob into the content store; `tap` lets the unpacker read a layer while it downloads. */
  private async download(run: PullRun, desc: Descriptor, tap?: LayerTap): Promise<void> {
    const { ref, name, lease, fetchOpts, watchdog, progress } = run;
    lease.digests.add(desc.digest);
    progress.update(desc, {});
    await this.gc.settled(desc.digest);
    if ((await this.content.info(desc.digest)) !== undefined) {
      progress.update(desc, { status: 'exists', downloaded: desc.size });
      return;
    }
    await this.limiter.run(() =>
      watchdog.track((onBytes) =>
        this.content.ingest({ digest: desc.digest, size: desc.size }, async () => {
          const stream = await this.registry.fetch(ref, desc, fetchOpts);
          return tap === undefined ? stream : tap.attach(stream);
        }, {
          onProgress: (bytes) => {
            onBytes();
            progress.update(desc, { status: 'downloading', downloaded: bytes });
          },
          signal: fetchOpts.signal,
        }),
      ),
    );
    progress.update(desc, { status: 'done', downloaded: desc.size });
    run.bytes += desc.size;
    this.logger.debug({ image: name, digest: desc.digest, size: desc.size }, 'blob downloaded');
  }
}

type JsonObject = Record<string, unknown>;

const validDescriptor = (d: unknown): d is Descriptor => {
  const v = d as Descriptor | null;
  return typeof v === 'object' && v !== null && typeof v.mediaType === 'string' && typeof v.digest === 'string' && isDigest(v.digest) && Number.isSafeInteger(v.size) && v.size >= 0;
};

function publishPull(run: PullRun, started: number, error?: BerthError): void {
  if (!imagePullChannel.hasSubscribers) return;
  const event: ImagePullEvent = { bytes: run.bytes, durationMs: Date.now() - started, ...(error !== undefined ? { error } : {}) };
  imagePullChannel.publish(event);
}

function isIndex(desc: Descriptor, doc: JsonObject): boolean {
  const mediaType = doc['mediaType'] ?? desc.mediaType;
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList || (Array.isArray(doc['manifests']) && !('config' in doc));
}

function checkIndex(doc: JsonObject, desc: Descriptor, name: string): ImageIndex {
  const manifests = doc['manifests'];
  if (!Array.isArray(manifests) || !manifests.every(validDescriptor)) {
    throw new BerthError('DataLoss', `image "${name}": index ${desc.digest} is not a valid image index (needs a manifests list of descriptors)`);
  }
  return doc as unknown as ImageIndex;
}

function checkManifest(doc: JsonObject, desc: Descriptor, name: string): ImageManifest {
  if (schema1.has(desc.mediaType) || doc['schemaVersion'] === 1) {
    throw invalidArgument(`image "${name}" uses Docker manifest schema 1, which berth does not support; push it again with a current docker or buildah`);
  }
  const layers = doc['layers'];
  if (!validDescriptor(doc['config']) || !Array.isArray(layers) || !layers.every(validDescriptor)) {
    throw new BerthError('DataLoss', `image "${name}": manifest ${desc.digest} is not a valid image manifest (needs config and layers descriptors)`);
  }
  return doc as unknown as ImageManifest;
}

function checkConfig(doc: JsonObject, manifest: ImageManifest, name: string): ImageConfig {
  const c = doc as unknown as ImageConfig;
  const diffIDs = (c.rootfs as ImageConfig['rootfs'] | undefined)?.diff_ids;
  if (!Array.isArray(diffIDs) || !diffIDs.every((d) => typeof d === 'string' && isDigest(d))) {
    throw new BerthError('DataLoss', `image "${name}": config ${manifest.config.digest} has no valid rootfs.diff_ids`);
  }
  if (diffIDs.length !== manifest.layers.length) {
    throw new BerthError('DataLoss', `image "${name}": config lists ${diffIDs.length} layer diff IDs but the manifest has ${manifest.layers.length} layers`);
  }
  return c;
}

/** Names the image in every failure and tells the operator what to do about auth and missing images. */
function pullError(err: unknown, name: string, ref: ImageReference): BerthError {
  const e = asBerthError(err, `pulling image "${name}"`);
  const authHint = (e.kind === 'Unauthenticated' || e.kind === 'PermissionDenied') && !/credentials|pull secret/.test(e.message);
  if (e.message.includes(name) && !authHint) return e;
  let message = e.message.includes(name) ? e.message : `pulling image "${name}": ${e.message}`;
  if (authHint) message += `; check the image pull secret or the credentials for ${ref.domain}`;
  return new BerthError(e.kind, message, { cause: e, context: { ...e.context, image: name } });
}
