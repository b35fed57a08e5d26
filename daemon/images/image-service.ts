import type { Logger } from 'pino';
import type { ContentStore } from '../content/content-store.js';
import { isBerthError, notFound } from '../errors/errors.js';
import { faultPoint } from '../faults/fault-point.js';
import type { Digest, ImageConfig, Platform } from '../oci/image-spec.js';
import { isDigest } from '../oci/digest.js';
import { parseReference } from '../oci/reference.js';
import type { RegistryClient } from '../registry/registry-client.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { SnapshotsUsage, type FsUsage } from './fs-usage.js';
import { GarbageCollector, type ChainUsage, type GcResult } from './gc.js';
import { checkNamespace, groupById, ImageStore, type ImageRecord, type ImageView } from './image-store.js';
import { hostPlatform } from './platform.js';
import { Puller, recordName, type PullLimits, type PullOptions } from './pull.js';
import { Unpacker, type ApplyLayer, type LayerLimits } from './unpack.js';

/** The namespace the CRI works in, as in containerd; other clients (berthctl, moby-style tools) use their own. */
export const CRI_NAMESPACE = 'k8s.io';

export interface ImageServiceOptions {
  root: string;
  /** Directory the snapshotter keeps its data in: the image filesystem ImageFsInfo reports. */
  snapshotsDir: string;
  content: ContentStore;
  registry: RegistryClient;
  snapshotter: Snapshotter;
  applyLayer: ApplyLayer;
  pull: PullLimits;
  layers: LayerLimits;
  logger: Logger;
  /** Defaults to linux on the host architecture. */
  platform?: Platform;
}

/** What the container service needs to create a container from an image. */
export interface ResolvedImage {
  id: Digest;
  /** Committed snapshot to prepare the container rootfs on; absent for an image without layers. */
  chainID?: Digest;
  config: ImageConfig;
  view: ImageView;
}

/**
 * Images per namespace: pull, look up, remove, and the garbage collection that frees content and snapshots no
 * namespace uses. The CRI handlers and berthctl call this; it knows nothing about gRPC.
 */
export class ImageService {
  private readonly configs = new Map<Digest, ImageConfig>();

  private constructor(
    private readonly store: ImageStore,
    private readonly content: ContentStore,
    private readonly puller: Puller,
    private readonly gc: GarbageCollector,
    private readonly usage: SnapshotsUsage,
    private readonly registry: RegistryClient,
    private readonly maxConfigBytes: number,
  ) {}

  /** Loads the image records and sweeps what a crash or a killed pull left behind. */
  static async open(o: ImageServiceOptions): Promise<ImageService> {
    const log = o.logger.child({ component: 'images' });
    const store = await ImageStore.open(o.root, (w) => log.warn(w, 'image metadata file ignored'));
    const gc = new GarbageCollector(store, o.content, o.snapshotter, log);
    const unpacker = new Unpacker(o.snapshotter, o.content, o.applyLayer, o.layers);
    const puller = new Puller(store, o.content, o.registry, unpacker, gc, o.pull, o.platform ?? hostPlatform(), log);
    const usage = new SnapshotsUsage(o.snapshotter, o.snapshotsDir, 10_000, (err) => log.warn({ err }, 'measuring image filesystem usage'));
    const service = new ImageService(store, o.content, puller, gc, usage, o.registry, o.pull.maxManifestBytes);
    await gc.collect();
    return service;
  }

  /** Pulls into `namespace` and returns the record of the name pulled. */
  async pull(namespace: string, reference: string, opts: PullOptions = {}): Promise<ImageRecord> {
    checkNamespace(namespace);
    try {
      return await this.puller.pull(namespace, reference, opts);
    } finally {
      this.usage.invalidate();
    }
  }

  list(namespace: string): ImageView[] {
    return groupById(this.store.list(namespace));
  }

  /**
   * Finds an image by what a CRI client may pass: a full image ID, a name (`busybox`, `x:1`, `x@sha256:…`,
   * normalised), or a unique ID prefix. Undefined if there is none.
   */
  resolve(namespace: string, refOrId: string): ImageView | undefined {
    const found = this.lookup(namespace, refOrId);
    return found === undefined ? undefined : groupById(this.store.byId(namespace, found.id))[0];
  }

  /** Like resolve, plus the image config; what the container service creates containers from. */
  async get(namespace: string, refOrId: string): Promise<ResolvedImage | undefined> {
    const view = this.resolve(namespace, refOrId);
    if (view === undefined) return undefined;
    const newest = view.records[0] as ImageRecord;
    return { id: view.id, ...(newest.chainID ? { chainID: newest.chainID } : {}), config: await this.config(view.id), view };
  }

  /**
   * Removes names; idempotent. An image ID removes every name of that image; a tag removes that tag; a digest
   * reference removes the names of that repository pointing at that digest. Then frees what nothing uses.
   */
  async remove(namespace: string, refOrId: string): Promise<GcResult> {
    const names = this.lookup(namespace, refOrId)?.names ?? [];
    for (const name of names) await this.store.delete(namespace, name);
    if (names.length > 0) faultPoint('remove-image:after-record');
    for (const id of this.configs.keys()) if (![...this.store.all()].some((r) => r.configDigest === id)) this.configs.delete(id);
    try {
      return names.length > 0 ? await this.gc.collect() : { blobsRemoved: 0, snapshotsRemoved: 0 };
    } finally {
      this.usage.invalidate();
    }
  }

  /** The image config of image `id` (its config digest), read once from the content store and cached. */
  async config(id: Digest): Promise<ImageConfig> {
    const cached = this.configs.get(id);
    if (cached !== undefined) return cached;
    let bytes: Buffer;
    try {
      bytes = await this.content.readAll(id, this.maxConfigBytes);
    } catch (err) {
      if (isBerthError(err, 'NotFound')) throw notFound(`image ${id}: its config blob is missing from the content store; pull the image again`);
      throw err;
    }
    const config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
    this.configs.set(id, config);
    return config;
  }

  fsUsage(): Promise<FsUsage> {
    return this.usage.get();
  }

  setChainUsage(usage: ChainUsage): void {
    this.gc.setChainUsage(usage);
  }

  collectGarbage(): Promise<GcResult> {
    return this.gc.collect();
  }

  /** Lets go of the registry connections kept alive between pulls; the daemon calls this when it stops. */
  close(): void {
    this.registry.close();
  }

  /** The image `refOrId` names and the names a removal by that string deletes. */
  private lookup(namespace: string, refOrId: string): { id: Digest; names: string[] } | undefined {
    const allNames = (id: Digest): { id: Digest; names: string[] } | undefined => {
      const records = this.store.byId(namespace, id);
      return records.length > 0 ? { id, names: records.map((r) => r.name) } : undefined;
    };
    if (isDigest(refOrId)) return allNames(refOrId);
    const name = this.tryName(refOrId);
    if (name !== undefined && name.includes('@')) {
      // A digest reference names that repository's names pointing at that digest, its tags included.
      const [repo, digest] = name.split('@') as [string, string];
      const hits = this.store.list(namespace).filter((r) => r.name === name || (r.target.digest === digest && r.name.startsWith(`${repo}:`)));
      if (hits.length > 0) return { id: (hits[0] as ImageRecord).configDigest, names: hits.map((r) => r.name) };
    } else if (name !== undefined) {
      const record = this.store.get(namespace, name);
      if (record !== undefined) return { id: record.configDigest, names: [name] };
    }
    const id = this.store.idByPrefix(namespace, refOrId);
    return id === undefined ? undefined : allNames(id);
  }

  /** The canonical name `s` parses to, or undefined when it is not a reference (e.g. 64 hex digits: an ID). */
  private tryName(s: string): string | undefined {
    try {
      return recordName(parseReference(s));
    } catch (err) {
      if (isBerthError(err, 'InvalidArgument')) return undefined;
      throw err;
    }
  }
}
