import { isSnapshotError } from '../../snapshotter/errors.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';

export interface FsUsage {
  /** ms since epoch when measured. */
  timestamp: number;
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

/**
 * Bytes and inodes the snapshotter holds. Measuring walks every snapshot, and kubelet asks every few seconds, so a
 * result is served from cache and refreshed in the background once older than `maxAgeMs`; only the first call
 * waits for a walk. Pulls and removals mark it stale.
 */
export class SnapshotsUsage {
  private cached: FsUsage | undefined;
  private refreshing: Promise<FsUsage> | undefined;
  private stale = false;

  constructor(
    private readonly snapshotter: Snapshotter,
    private readonly mountpoint: string,
    private readonly maxAgeMs = 10_000,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  async get(): Promise<FsUsage> {
    if (this.cached === undefined) return this.refresh();
    if (this.stale || Date.now() - this.cached.timestamp > this.maxAgeMs) {
      this.refresh().catch(this.onError);
    }
    return this.cached;
  }

  invalidate(): void {
    this.stale = true;
  }

  private refresh(): Promise<FsUsage> {
    if (this.refreshing !== undefined) return this.refreshing;
    this.stale = false;
    this.refreshing = this.measure()
      .then((usage) => {
        this.cached = usage;
        return usage;
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  private async measure(): Promise<FsUsage> {
    const timestamp = Date.now();
    let usedBytes = 0;
    let inodesUsed = 0;
    for (const s of await this.snapshotter.list()) {
      try {
        const u = await this.snapshotter.usage(s.key);
        usedBytes += u.size;
        inodesUsed += u.inodes;
      } catch (err) {
        // A snapshot removed between list and usage simply no longer counts.
        if (!isSnapshotError(err, 'NotFound')) throw err;
      }
    }
    return { timestamp, mountpoint: this.mountpoint, usedBytes, inodesUsed };
  }
}
