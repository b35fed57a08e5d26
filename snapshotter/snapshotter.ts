/**
 * The snapshotter contract, after containerd's: committed snapshots are immutable layer chains keyed by name
 * (berth uses the layer chain ID), active snapshots are writable overlays on top of a committed parent, views are
 * read-only ones.
 *
 * Pulling a layer: prepare(tmpKey, parentChainID) → upperDir/lowerDirs → applyLayer (apply-layer.ts) →
 * commit(chainID, tmpKey); on any failure, remove(tmpKey). Two pulls of the same chain race safely: the loser's
 * commit fails with AlreadyExists and it removes its own active snapshot.
 * Failures are SnapshotError (errors.ts) with code NotFound, AlreadyExists, FailedPrecondition or LimitExceeded.
 */
export type SnapshotKind = 'committed' | 'active' | 'view';

export interface SnapshotInfo {
  key: string;
  parent?: string;
  kind: SnapshotKind;
  createdAt: number;
  labels: Record<string, string>;
}

/**
 * A mount as the kernel takes it. An active snapshot yields one overlay (`lowerdir=`, `upperdir=`, `workdir=`), or a
 * bind of its own directory when it has no parent; options 'rbind' and 'ro'/'rw' qualify a bind. mount.ts mounts it.
 */
export interface Mount {
  type: 'overlay' | 'bind';
  source: string;
  options: string[];
}

export interface Usage {
  /** Apparent bytes of the snapshot's own files (not its parents'), each hard-linked inode once. */
  size: number;
  inodes: number;
}

export interface Snapshotter {
  stat(key: string): Promise<SnapshotInfo | undefined>;
  /** Creates a writable snapshot `key` over the committed `parent` (none: empty) and returns its mounts. */
  prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** Like prepare, read-only. */
  view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  /** The mounts of an active snapshot or a view. */
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
