/**
 * The overlayfs snapshotter. On disk, under `<root>`:
 *
 *   metadata.json            every snapshot: key → { id, kind, parent, createdAt, labels }, plus the next id
 *   snapshots/<id>/fs        the snapshot's own files (a layer, or an active snapshot's upper dir)
 *   snapshots/<id>/work      overlay's work dir, active snapshots only
 *
 * metadata.json is the only truth and is replaced atomically (write a temp file, fsync, rename, fsync the
 * directory). Directories are created before the metadata names them and deleted after it stops naming them, so a
 * crash at any point leaves at worst a directory no snapshot owns; open() deletes those. A half-applied layer is
 * an active snapshot, never a committed one: only commit() makes a snapshot usable as a parent, and it syncs the
 * snapshot's file system first, so a power loss cannot leave a committed layer with files that never hit the disk.
 */
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotError } from './errors.js';
import { syncfs } from './libc.js';
import { AsyncLock } from './lock.js';
import { silentLogger, type SnapshotLogger } from './log.js';
import type { Mount, SnapshotInfo, SnapshotKind, Snapshotter, Usage } from './snapshotter.js';
import { directoryUsage } from './usage.js';

interface SnapshotRecord {
  id: number;
  kind: SnapshotKind;
  parent?: string;
  createdAt: number;
  labels: Record<string, string>;
}

interface MetadataFile {
  version: 1;
  nextId: number;
  snapshots: Record<string, SnapshotRecord>;
}

const METADATA = 'metadata.json';

export interface OverlaySnapshotterOptions {
  log?: SnapshotLogger;
}

export class OverlaySnapshotter implements Snapshotter {
  private readonly lock = new AsyncLock();
  private readonly snapshotsDir: string;

  private constructor(
    readonly root: string,
    private readonly meta: MetadataFile,
    private readonly log: SnapshotLogger,
  ) {
    this.snapshotsDir = join(root, 'snapshots');
  }

  /** Opens (creating if needed) the snapshotter at `root` and deletes what a crash left half-made. */
  static async open(root: string, options: OverlaySnapshotterOptions = {}): Promise<OverlaySnapshotter> {
    const log = options.log ?? silentLogger;
    await mkdir(join(root, 'snapshots'), { recursive: true, mode: 0o700 });
    const meta = await readMetadata(root);
    const snapshotter = new OverlaySnapshotter(root, meta, log);
    await snapshotter.removeOrphans();
    return snapshotter;
  }

  stat(key: string): Promise<SnapshotInfo | undefined> {
    return this.lock.run(async () => {
      const record = this.meta.snapshots[key];
      return record === undefined ? undefined : toInfo(key, record);
    });
  }

  list(): Promise<SnapshotInfo[]> {
    return this.lock.run(async () => Object.entries(this.meta.snapshots).map(([key, record]) => toInfo(key, record)));
  }

  prepare(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.create('active', key, parent, labels);
  }

  view(key: string, parent?: string, labels: Record<string, string> = {}): Promise<Mount[]> {
    return this.create('view', key, parent, labels);
  }

  mounts(key: string): Promise<Mount[]> {
    return this.lock.run(async () => {
      const record = this.get(key);
      if (record.kind === 'committed') {
        throw new SnapshotError('FailedPrecondition', `snapshot "${key}" is committed and cannot be mounted; prepare or view a child of it`, { context: { key } });
      }
      return this.mountsOf(record);
    });
  }

  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    const synced = await this.lock.run(async () => this.committable(name, key));
    // The layer's files must be on disk before the metadata says the layer is complete: after a power loss a
    // committed snapshot with empty files would be reused by every later pull (containerd#8895). Synced outside
    // the lock, as syncfs can take seconds on a busy disk.
    await syncFileSystem(join(this.dirOf(synced), 'fs'));
    await this.lock.run(async () => {
      const record = this.committable(name, key);
      if (record.id !== synced.id) {
        throw new SnapshotError('FailedPrecondition', `snapshot "${key}" was removed and prepared again while it was being committed`, { context: { key, name } });
      }
      const committed: SnapshotRecord = { ...record, kind: 'committed', createdAt: Date.now(), labels: labels ?? record.labels };
      await this.update((snapshots) => {
        delete snapshots[key];
        snapshots[name] = committed;
      });
      // A committed snapshot is only ever a lower dir: its work dir is dead weight (and harmless if this fails).
      await rm(join(this.dirOf(committed), 'work'), { recursive: true, force: true }).catch((err: unknown) => {
        this.log.warn({ err, name }, 'snapshotter: could not remove the work dir of a committed snapshot; it is deleted with the snapshot');
      });
    });
  }

  remove(key: string): Promise<void> {
    return this.lock.run(async () => {
      const record = this.get(key);
      const children = Object.entries(this.meta.snapshots).filter(([, r]) => r.parent === key).map(([k]) => k);
      if (children.length > 0) {
        throw new SnapshotError('FailedPrecondition', `snapshot "${key}" is the parent of ${children.map((c) => `"${c}"`).join(', ')}; remove those first`, {
          context: { key, children },
        });
      }
      await this.update((snapshots) => {
        delete snapshots[key];
      });
      try {
        await rm(this.dirOf(record), { recursive: true, force: true });
      } catch (err) {
        // The snapshot is gone from the metadata; its directory is an orphan that the next open() deletes.
        this.log.warn({ err, key, dir: this.dirOf(record) }, 'snapshotter: could not delete a removed snapshot\'s directory; it is retried at the next start');
      }
    });
  }

  async usage(key: string): Promise<Usage> {
    const dir = await this.lock.run(async () => join(this.dirOf(this.get(key)), 'fs'));
    try {
      // Walked outside the lock: a large snapshot must not hold up prepares and commits.
      return await directoryUsage(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await this.stat(key)) === undefined) {
        throw new SnapshotError('NotFound', `snapshot "${key}" was removed while its usage was measured`, { context: { key } });
      }
      throw err;
    }
  }

  upperDir(key: string): Promise<string> {
    return this.lock.run(async () => {
      const record = this.get(key);
      if (record.kind !== 'active') {
        throw new SnapshotError('FailedPrecondition', `snapshot "${key}" is ${record.kind}; only an active snapshot has a writable upper dir`, { context: { key } });
      }
      return join(this.dirOf(record), 'fs');
    });
  }

  lowerDirs(key: string): Promise<string[]> {
    return this.lock.run(async () => this.chainOf(this.get(key)).map((r) => join(this.dirOf(r), 'fs')));
  }

  private create(kind: 'active' | 'view', key: string, parent: string | undefined, labels: Record<string, string>): Promise<Mount[]> {
    return this.lock.run(async () => {
      if (key === '') throw new SnapshotError('FailedPrecondition', 'a snapshot key must not be empty');
      if (this.meta.snapshots[key] !== undefined) {
        throw new SnapshotError('AlreadyExists', `snapshot "${key}" already exists`, { context: { key } });
      }
      if (parent !== undefined) {
        const parentRecord = this.meta.snapshots[parent];
        if (parentRecord === undefined) {
          throw new SnapshotError('NotFound', `parent snapshot "${parent}" of "${key}" does not exist; unpack the image again`, { context: { key, parent } });
        }
        if (parentRecord.kind !== 'committed') {
          throw new SnapshotError('FailedPrecondition', `parent snapshot "${parent}" of "${key}" is ${parentRecord.kind}; only a committed snapshot can be a parent`, {
            context: { key, parent },
          });
        }
      }
      const record: SnapshotRecord = { id: this.meta.nextId, kind, createdAt: Date.now(), labels: { ...labels } };
      if (parent !== undefined) record.parent = parent;
      const dir = this.dirOf(record);
      try {
        // A directory with this id can only be a leftover of a crash before its metadata was written.
        await rm(dir, { recursive: true, force: true });
        await mkdir(join(dir, 'fs'), { recursive: true, mode: 0o755 });
        // The upper dir's root becomes the container's /: its mode must not depend on the daemon's umask.
        await chmod(join(dir, 'fs'), 0o755);
        if (kind === 'active') await mkdir(join(dir, 'work'), { mode: 0o700 });
        await this.update((snapshots, meta) => {
          snapshots[key] = record;
          meta.nextId = record.id + 1;
        });
      } catch (err) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
      return this.mountsOf(record);
    });
  }

  /** Active snapshot `key`, if it may become committed snapshot `name`. */
  private committable(name: string, key: string): SnapshotRecord {
    const record = this.get(key);
    if (record.kind !== 'active') {
      throw new SnapshotError('FailedPrecondition', `snapshot "${key}" is ${record.kind}, only an active snapshot can be committed`, { context: { key, name } });
    }
    if (this.meta.snapshots[name] !== undefined) {
      throw new SnapshotError('AlreadyExists', `snapshot "${name}" already exists; remove active snapshot "${key}" and use the existing one`, { context: { key, name } });
    }
    return record;
  }

  private get(key: string): SnapshotRecord {
    const record = this.meta.snapshots[key];
    if (record === undefined) throw new SnapshotError('NotFound', `snapshot "${key}" does not exist`, { context: { key } });
    return record;
  }

  private dirOf(record: SnapshotRecord): string {
    return join(this.snapshotsDir, String(record.id));
  }

  /** The committed ancestors of `record`, nearest (topmost layer) first. */
  private chainOf(record: SnapshotRecord): SnapshotRecord[] {
    const chain: SnapshotRecord[] = [];
    for (let key = record.parent; key !== undefined; key = chain[chain.length - 1]?.parent) {
      chain.push(this.get(key));
    }
    return chain;
  }

  private mountsOf(record: SnapshotRecord): Mount[] {
    const lowers = this.chainOf(record).map((r) => join(this.dirOf(r), 'fs'));
    const own = join(this.dirOf(record), 'fs');
    if (record.kind === 'view') {
      if (lowers.length === 0) return [{ type: 'bind', source: own, options: ['rbind', 'ro'] }];
      // overlayfs needs two lower dirs when it has no upper dir; one layer is simply bound read-only.
      if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] }];
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }];
    }
    if (lowers.length === 0) return [{ type: 'bind', source: own, options: ['rbind', 'rw'] }];
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [`workdir=${join(this.dirOf(record), 'work')}`, `upperdir=${own}`, `lowerdir=${lowers.join(':')}`],
      },
    ];
  }

  /** Applies `change` to a copy of the metadata, persists it crash-safely, then adopts it. */
  private async update(change: (snapshots: Record<string, SnapshotRecord>, meta: MetadataFile) => void): Promise<void> {
    const next: MetadataFile = structuredClone(this.meta);
    change(next.snapshots, next);
    await writeMetadata(this.root, next);
    this.meta.nextId = next.nextId;
    this.meta.snapshots = next.snapshots;
  }

  private async removeOrphans(): Promise<void> {
    const owned = new Set(Object.values(this.meta.snapshots).map((r) => String(r.id)));
    for (const name of await readdir(this.snapshotsDir)) {
      if (owned.has(name)) continue;
      this.log.warn({ dir: join(this.snapshotsDir, name) }, 'snapshotter: deleting a snapshot directory no snapshot owns (left by a crash or a failed removal)');
      await rm(join(this.snapshotsDir, name), { recursive: true, force: true });
    }
    for (const name of await readdir(this.root)) {
      if (name.startsWith(`${METADATA}.`)) await rm(join(this.root, name), { force: true });
    }
  }
}

/** Writes back every dirty page of the file system holding `dir`. */
async function syncFileSystem(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    if ((await syncfs(handle.fd)) === 0) return;
  } finally {
    await handle.close();
  }
  // The errno is lost on koffi's worker thread: sync(1) tries once more and, failing too, says why.
  await execa('sync', ['--file-system', dir]);
}

function toInfo(key: string, record: SnapshotRecord): SnapshotInfo {
  const info: SnapshotInfo = { key, kind: record.kind, createdAt: record.createdAt, labels: { ...record.labels } };
  if (record.parent !== undefined) info.parent = record.parent;
  return info;
}

async function readMetadata(root: string): Promise<MetadataFile> {
  let text: string;
  try {
    text = await readFile(join(root, METADATA), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, nextId: 1, snapshots: {} };
    throw err;
  }
  const parsed = JSON.parse(text) as Partial<MetadataFile>;
  if (parsed.version !== 1 || typeof parsed.nextId !== 'number' || typeof parsed.snapshots !== 'object' || parsed.snapshots === null) {
    throw new SnapshotError('FailedPrecondition', `snapshot metadata ${join(root, METADATA)} is not a berth snapshotter v1 file; restore it or move ${root} aside`);
  }
  return { version: 1, nextId: parsed.nextId, snapshots: parsed.snapshots };
}

async function writeMetadata(root: string, meta: MetadataFile): Promise<void> {
  const final = join(root, METADATA);
  const temp = `${final}.${randomUUID()}`;
  const file = await open(temp, 'wx', 0o600);
  try {
    await file.writeFile(JSON.stringify(meta));
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(temp, final);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // The rename is durable only once the directory entry is.
  const dir = await open(root, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
