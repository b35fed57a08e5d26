/**
 * The snapshotter contract, after containerd's: committed snapshots are immutable layer chains keyed by name
 * (berth uses the layer chain ID), active snapshots are writable overlays on top of a committed parent.
 */
export type SnapshotKind = 'committed' | 'active' | 'view';

export interface SnapshotInfo {
  key: string;
  parent?: string;
  kind: SnapshotKind;
  createdAt: number;
  labels: Record<string, string>;
}

/** A mount as the kernel takes it; an active snapshot yields one overlay (or a bind for an empty parent). */
export interface Mount {
  type: 'overlay' | 'bind';
  source: string;
  options: string[];
}

export interface Usage {
  size: number;
  inodes: number;
}

export interface Snapshotter {
  stat(key: string): Promise<SnapshotInfo | undefined>;
  /** Creates a writable snapshot `key` over the committed `parent` (none: empty) and returns its mounts. */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** Like prepare, read-only. */
  view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  /** Turns active snapshot `key` into committed snapshot `name`. */
  commit(name: string, key: string, labels?: Record<string, string>): Promise<void>;
  /** Removes a snapshot; refuses one that is the parent of another. */
  remove(key: string): Promise<void>;
  usage(key: string): Promise<Usage>;
  list(): Promise<SnapshotInfo[]>;
  /** The directory an unpacker writes a layer into for active snapshot `key` (its overlay upper dir). */
  upperDir(key: string): Promise<string>;
  /** The read-only lower directories of active snapshot `key`, topmost first (for hardlink copy-up on unpack). */
  lowerDirs(key: string): Promise<string[]>;
}
