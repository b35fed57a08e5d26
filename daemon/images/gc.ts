import type { Logger } from 'pino';
import type { ContentStore } from '../content/content-store.js';
import { imageGcChannel, type ImageGcEvent } from '../metrics/channels.js';
import type { Digest } from '../oci/image-spec.js';
import { isSnapshotError } from '../../snapshotter/errors.js';
import type { SnapshotInfo, Snapshotter } from '../../snapshotter/snapshotter.js';
import { chainIDs } from './chain-id.js';
import type { ImageStore } from './image-store.js';

/** Prefix of the temporary active snapshot a layer is unpacked into before it is committed as its chain ID. */
export const EXTRACT_PREFIX = 'extract-';

/** What a pull in progress needs kept: blobs and snapshots it has not yet recorded in an image. */
export class Lease {
  readonly digests = new Set<Digest>();
  readonly chains = new Set<Digest>();
  constructor(private readonly onRelease: (lease: Lease) => void) {}
  release(): void {
    this.onRelease(this);
  }
}

/**
 * Another component's claim on committed snapshots, e.g. the container service: a container rootfs prepared on a
 * chain keeps that chain. (The snapshotter also refuses to remove a parent, so this is a second line of defence.)
 */
export interface ChainUsage {
  isChainInUse(chainID: Digest): boolean;
}

export interface GcResult {
  blobsRemoved: number;
  snapshotsRemoved: number;
}

/**
 * Mark and sweep over content and snapshots, which every namespace shares: roots are the image records of all
 * namespaces plus the leases of running pulls. Only blobs and chain-ID snapshots (and leftover extract-
 * snapshots) are swept; container snapshots are never touched.
 *
 * Race with pulls: a pull adds a digest to its lease and then awaits `settled(digest)` before using it. The
 * collector checks leases and starts a deletion in one synchronous step, so either the pull's lease is seen or the
 * pull waits for the deletion and downloads the blob again.
 */
export class GarbageCollector {
  private readonly leases = new Set<Lease>();
  private released: Lease[] = [];
  private readonly deleting = new Map<string, Promise<unknown>>();
  private running: Promise<GcResult> | undefined;
  private rerun = false;
  private chainUsage: ChainUsage = { isChainInUse: () => false };

  constructor(
    private readonly store: ImageStore,
    private readonly content: ContentStore,
    private readonly snapshotter: Snapshotter,
    private readonly logger: Logger,
  ) {}

  lease(): Lease {
    // A pull records its image and then releases its lease; a sweep that computed its roots before the record
    // existed must still see the lease, so releases during a sweep take effect when it ends.
    const lease = new Lease((l) => (this.running === undefined ? this.leases.delete(l) : this.released.push(l)));
    this.leases.add(lease);
    return lease;
  }

  setChainUsage(usage: ChainUsage): void {
    this.chainUsage = usage;
  }

  /** Resolves once no deletion of `key` (a digest or snapshot key) is under way. */
  async settled(key: string): Promise<void> {
    await this.deleting.get(key);
  }

  /** Runs a collection; a call during a run schedules one more run after it (records may have changed). */
  collect(): Promise<GcResult> {
    if (this.running !== undefined) {
      this.rerun = true;
      return this.running;
    }
    const run = async (): Promise<GcResult> => {
      const total: GcResult = { blobsRemoved: 0, snapshotsRemoved: 0 };
      do {
        this.rerun = false;
        const r = await this.sweep();
        total.blobsRemoved += r.blobsRemoved;
        total.snapshotsRemoved += r.snapshotsRemoved;
      } while (this.rerun);
      return total;
    };
    this.running = run().finally(() => {
      this.running = undefined;
      for (const l of this.released) this.leases.delete(l);
      this.released = [];
    });
    return this.running;
  }

  private leased(key: Digest, kind: 'digests' | 'chains'): boolean {
    for (const lease of this.leases) if (lease[kind].has(key)) return true;
    return false;
  }

  private async sweep(): Promise<GcResult> {
    const digests = new Set<Digest>();
    const chains = new Set<Digest>();
    for (const r of this.store.all()) {
      digests.add(r.target.digest).add(r.manifest.digest).add(r.configDigest);
      for (const l of r.layers) digests.add(l.digest);
      for (const c of chainIDs(r.diffIDs)) chains.add(c);
    }

    let blobsRemoved = 0;
    for (const blob of await this.content.list()) {
      if (digests.has(blob.digest) || this.leased(blob.digest, 'digests')) continue;
      await this.startDeletion(blob.digest, () => this.content.delete(blob.digest));
      blobsRemoved++;
    }

    const snapshotsRemoved = await this.sweepSnapshots(chains);
    if (blobsRemoved + snapshotsRemoved > 0) this.logger.info({ blobsRemoved, snapshotsRemoved }, 'image garbage collection');
    const result: GcResult & ImageGcEvent = { blobsRemoved, snapshotsRemoved };
    if (imageGcChannel.hasSubscribers) imageGcChannel.publish(result);
    return result;
  }

  private async sweepSnapshots(roots: Set<Digest>): Promise<number> {
    const all = await this.snapshotter.list();
    const childCount = new Map<string, number>();
    for (const s of all) if (s.parent !== undefined) childCount.set(s.parent, (childCount.get(s.parent) ?? 0) + 1);
    const byKey = new Map(all.map((s) => [s.key, s]));

    const collectable = (s: SnapshotInfo): boolean => {
      if (s.kind === 'committed' && s.key.startsWith('sha256:')) {
        const chain = s.key as Digest;
        return !roots.has(chain) && !this.leased(chain, 'chains') && !this.chainUsage.isChainInUse(chain);
      }
      if (s.kind === 'active' && s.key.startsWith(EXTRACT_PREFIX)) {
        // extract-<random>-<chainID>: a pull in progress leases the chain; otherwise it is a crash leftover.
        const chain = s.key.slice(s.key.indexOf('-sha256:') + 1) as Digest;
        return !this.leased(chain, 'chains');
      }
      return false;
    };

    // Remove leaves first; removing one may make its parent a leaf.
    let removed = 0;
    const queue = all.filter((s) => (childCount.get(s.key) ?? 0) === 0 && collectable(s));
    while (queue.length > 0) {
      const s = queue.pop() as SnapshotInfo;
      // Re-checked here: a pull may have leased the chain while earlier removals were awaited.
      if (!collectable(s)) continue;
      try {
        await this.startDeletion(s.key, () => this.snapshotter.remove(s.key));
      } catch (err) {
        // Gone already, or given a child since the listing (a container prepared on it): it is kept.
        if (isSnapshotError(err, 'NotFound') || isSnapshotError(err, 'FailedPrecondition')) continue;
        throw err;
      }
      removed++;
      if (s.parent === undefined) continue;
      const left = (childCount.get(s.parent) ?? 1) - 1;
      childCount.set(s.parent, left);
      const parent = byKey.get(s.parent);
      if (left === 0 && parent !== undefined && collectable(parent)) queue.push(parent);
    }
    return removed;
  }

  private async startDeletion(key: string, remove: () => Promise<void>): Promise<void> {
    const deletion = remove().finally(() => this.deleting.delete(key));
    this.deleting.set(key, deletion.catch(() => undefined));
    await deletion;
  }
}
