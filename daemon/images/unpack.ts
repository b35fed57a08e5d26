import { randomBytes } from 'node:crypto';
import type { ContentStore } from '../content/content-store.js';
import { BerthError } from '../errors/errors.js';
import type { Descriptor, Digest } from '../oci/image-spec.js';
import { isSnapshotError } from '../../snapshotter/errors.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { EXTRACT_PREFIX } from './gc.js';
import { asBerthError } from './snapshot-errors.js';

export interface LayerLimits {
  maxUnpackedBytes: number;
  maxEntries: number;
}

/**
 * Writes one layer tar (gzip or plain) into an active snapshot's upper dir and reports the sha256 of the
 * uncompressed tar; snapshotter/apply-layer.ts's applyLayer in the daemon, with its safety rules and limits.
 */
export type ApplyLayer = (
  layer: AsyncIterable<Uint8Array>,
  target: { upperDir: string; lowerDirs: readonly string[] },
  options: { maxUnpackedBytes: number; maxEntries: number; signal?: AbortSignal },
) => Promise<{ diffID: string; size: number }>;

export interface UnpackStep {
  /** For error messages: the image being pulled. */
  imageName: string;
  layer: Descriptor;
  diffID: Digest;
  chainID: Digest;
  /** Chain ID of the layer below; absent for the bottom layer. */
  parent?: Digest;
  signal?: AbortSignal;
  /**
   * The layer's bytes while they download (layer-tap.ts), with `verified`, which settles once the content store
   * has checked them against the layer digest; the snapshot is committed only after. Absent: the layer is read
   * from the content store.
   */
  streaming?: { layer: AsyncIterable<Uint8Array>; verified: Promise<void> };
}

/**
 * Turns downloaded layers into committed snapshots keyed by chain ID: prepare `extract-<random>-<chainID>` on the
 * parent, apply the layer into its upper dir, check the diff ID against the image config, commit. A failed layer
 * leaves no snapshot behind. One chain is unpacked once at a time in this process; a concurrent request for the
 * same chain waits for that unpack.
 */
export class Unpacker {
  private readonly inflight = new Map<Digest, Promise<void>>();

  constructor(
    private readonly snapshotter: Snapshotter,
    private readonly content: ContentStore,
    private readonly applyLayer: ApplyLayer,
    private readonly limits: LayerLimits,
  ) {}

  async isUnpacked(chainID: Digest): Promise<boolean> {
    return (await this.snapshotter.stat(chainID))?.kind === 'committed';
  }

  async unpack(step: UnpackStep): Promise<void> {
    for (;;) {
      const running = this.inflight.get(step.chainID);
      if (running === undefined) break;
      // The other unpack's failure may be its own (cancelled) pull's; check the result and retry if absent.
      await running.catch(() => undefined);
    }
    if (await this.isUnpacked(step.chainID)) return;
    const work = this.extract(step).finally(() => this.inflight.delete(step.chainID));
    this.inflight.set(step.chainID, work);
    await work;
  }

  private async extract(step: UnpackStep): Promise<void> {
    const key = `${EXTRACT_PREFIX}${randomBytes(6).toString('hex')}-${step.chainID}`;
    const where = `image "${step.imageName}" layer ${step.layer.digest}`;
    try {
      await this.snapshotter.prepare(key, step.parent, { 'berth.io/image': step.imageName, 'berth.io/layer': step.layer.digest });
    } catch (err) {
      throw asBerthError(err, `unpacking ${where}: preparing a snapshot`);
    }
    try {
      const [upperDir, lowerDirs] = await Promise.all([this.snapshotter.upperDir(key), this.snapshotter.lowerDirs(key)]);
      const layer = step.streaming?.layer ?? (await this.content.openRead(step.layer.digest));
      const applied = await this.applyLayer(layer, { upperDir, lowerDirs }, { ...this.limits, ...(step.signal ? { signal: step.signal } : {}) });
      if (applied.diffID !== step.diffID) {
        throw new BerthError(
          'DataLoss',
          `unpacking ${where}: its uncompressed digest is ${applied.diffID} but the image config lists ${step.diffID}; the image is corrupt, push it again`,
          { context: { image: step.imageName, layer: step.layer.digest } },
        );
      }
      // A digest mismatch fails here, and the snapshot is removed below like any failed layer's.
      await step.streaming?.verified;
      try {
        await this.snapshotter.commit(step.chainID, key, { 'berth.io/diff-id': step.diffID });
      } catch (err) {
        // Another process (or a pull that bypassed this unpacker) committed the same chain first: same content.
        if (!isSnapshotError(err, 'AlreadyExists')) throw err;
        await this.snapshotter.remove(key);
      }
    } catch (err) {
      const failure = asBerthError(err, `unpacking ${where}`);
      try {
        await this.snapshotter.remove(key);
      } catch (cleanupErr) {
        // The layer's failure is what the caller must see; the extract- snapshot is swept by garbage collection.
        throw new BerthError(failure.kind, `${failure.message} (snapshot ${key} is left for garbage collection: ${String(cleanupErr)})`, {
          cause: failure,
          context: { ...failure.context },
        });
      }
      throw failure;
    }
  }
}
