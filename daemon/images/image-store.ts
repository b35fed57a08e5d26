import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BerthError, invalidArgument } from '../errors/errors.js';
import { isDigest } from '../oci/digest.js';
import type { Descriptor, Digest, Platform } from '../oci/image-spec.js';
import { removeFileDurable, TEMP_PREFIX, writeFileDurable } from '../fs/atomic-file.js';

/**
 * One image name in one namespace, as containerd's image store keeps it: the name points at a target (a manifest
 * or an index); everything else is derived at pull time and kept so that list/status/GC never re-read content.
 */
export interface ImageRecord {
  /** Canonical reference: `docker.io/library/busybox:1.36` or `docker.io/library/busybox@sha256:…`. */
  name: string;
  /** What the name resolved to in the registry: an index or a manifest. */
  target: Descriptor;
  /** The manifest chosen for this host's platform (the target itself when the target is a manifest). */
  manifest: Descriptor;
  /** The image config's digest: the image ID the CRI reports. */
  configDigest: Digest;
  /** Compressed layer blobs, bottom first. */
  layers: Descriptor[];
  /** Uncompressed layer digests from the config's rootfs.diff_ids, bottom first. */
  diffIDs: Digest[];
  /** Chain ID of the top layer: the committed snapshot a container rootfs is prepared on (absent: no layers). */
  chainID?: Digest;
  /** Bytes of the platform manifest, config and compressed layers. */
  size: number;
  /** When this name was recorded (ms since epoch). */
  createdAt: number;
  platform: Platform;
}

/** The CRI's view: every name in a namespace that points at one config digest is one image. */
export interface ImageView {
  id: Digest;
  repoTags: string[];
  repoDigests: string[];
  /** The records behind this image, newest first; they agree on config, layers and chain ID. */
  records: ImageRecord[];
}

const NAMESPACE = /^[a-z0-9](?:[a-z0-9._-]{0,74}[a-z0-9])?$/;

export function checkNamespace(namespace: string): void {
  if (!NAMESPACE.test(namespace)) {
    throw invalidArgument(`invalid namespace "${namespace}": use 1-76 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit`);
  }
}

/** Whether a canonical name is a digest reference (`repo@sha256:…`) rather than a tag. */
export function isDigestName(name: string): boolean {
  return name.includes('@');
}

/** Groups records by image ID; tags and digest names are reported as the CRI does. */
export function groupById(records: Iterable<ImageRecord>): ImageView[] {
  const byId = new Map<Digest, ImageView>();
  for (const record of records) {
    let view = byId.get(record.configDigest);
    if (view === undefined) {
      view = { id: record.configDigest, repoTags: [], repoDigests: [], records: [] };
      byId.set(record.configDigest, view);
    }
    view.records.push(record);
    if (isDigestName(record.name)) view.repoDigests.push(record.name);
    else {
      view.repoTags.push(record.name);
      // A tag also proves the repository holds the target by digest, as containerd reports it.
      const repoDigest = `${record.name.slice(0, record.name.lastIndexOf(':'))}@${record.target.digest}`;
      if (!view.repoDigests.includes(repoDigest)) view.repoDigests.push(repoDigest);
    }
  }
  for (const view of byId.values()) {
    view.records.sort((a, b) => b.createdAt - a.createdAt);
    view.repoTags.sort();
    view.repoDigests = [...new Set(view.repoDigests)].sort();
  }
  return [...byId.values()];
}

export interface ImageStoreWarning {
  file: string;
  problem: string;
}

/**
 * Namespaced image records on disk, one JSON file per name under `<root>/metadata/<namespace>/images/`, each
 * written atomically and durably; an in-memory index answers every read. Writes are serialised so that the index
 * always matches the last file written.
 */
export class ImageStore {
  private readonly byNamespace = new Map<string, Map<string, ImageRecord>>();
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(private readonly metadataDir: string) {}

  /**
   * Loads every namespace. Leftover temp files from a crash are removed; a file that does not parse (damaged
   * outside berth: atomic writes never leave half a record) is renamed `*.corrupt` and reported, so one bad file
   * does not keep the daemon from starting.
   */
  static async open(root: string, onWarning: (w: ImageStoreWarning) => void): Promise<ImageStore> {
    const store = new ImageStore(join(root, 'metadata'));
    await mkdir(store.metadataDir, { recursive: true, mode: 0o700 });
    for (const namespace of await readdir(store.metadataDir)) {
      if (!NAMESPACE.test(namespace)) continue;
      const dir = store.imagesDir(namespace);
      let files: string[];
      try {
        files = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const records = new Map<string, ImageRecord>();
      for (const file of files) {
        const path = join(dir, file);
        if (file.startsWith(TEMP_PREFIX)) {
          await unlink(path);
          continue;
        }
        if (!file.endsWith('.json')) continue;
        const record = parseRecord(await readFile(path, 'utf8'));
        if (record === undefined || fileName(record.name) !== file) {
          await rename(path, `${path}.corrupt`);
          onWarning({ file: path, problem: 'not a valid image record; renamed to .corrupt and ignored' });
          continue;
        }
        records.set(record.name, record);
      }
      if (records.size > 0) store.byNamespace.set(namespace, records);
    }
    return store;
  }

  namespaces(): string[] {
    return [...this.byNamespace.keys()];
  }

  list(namespace: string): ImageRecord[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }

  get(namespace: string, name: string): ImageRecord | undefined {
    return this.byNamespace.get(namespace)?.get(name);
  }

  /** Records whose config digest is `id`. */
  byId(namespace: string, id: Digest): ImageRecord[] {
    return this.list(namespace).filter((r) => r.configDigest === id);
  }

  /**
   * The image ID whose hex starts with `prefix` (with or without `sha256:`), if exactly one does; an ambiguous
   * prefix is refused rather than guessed.
   */
  idByPrefix(namespace: string, prefix: string): Digest | undefined {
    const hex = prefix.startsWith('sha256:') ? prefix.slice(7) : prefix;
    if (!/^[a-f0-9]{1,64}$/.test(hex)) return undefined;
    const ids = new Set(this.list(namespace).map((r) => r.configDigest).filter((id) => id.startsWith(`sha256:${hex}`)));
    if (ids.size > 1) throw invalidArgument(`image ID prefix "${prefix}" is ambiguous: it matches ${ids.size} images; give more digits`);
    return ids.values().next().value;
  }

  /** Every record of every namespace: the roots of garbage collection. */
  *all(): Iterable<ImageRecord> {
    for (const records of this.byNamespace.values()) yield* records.values();
  }

  /** Creates or replaces the record for `record.name`. */
  async put(namespace: string, record: ImageRecord): Promise<void> {
    checkNamespace(namespace);
    return await this.serialise(async () => {
      const dir = this.imagesDir(namespace);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileDurable(join(dir, fileName(record.name)), `${JSON.stringify(record, null, 2)}\n`);
      let records = this.byNamespace.get(namespace);
      if (records === undefined) {
        records = new Map();
        this.byNamespace.set(namespace, records);
      }
      records.set(record.name, record);
    });
  }

  /** Removes a name; false if it was not there. */
  delete(namespace: string, name: string): Promise<boolean> {
    return this.serialise(async () => {
      const records = this.byNamespace.get(namespace);
      if (records?.has(name) !== true) return false;
      await removeFileDurable(join(this.imagesDir(namespace), fileName(name)));
      records.delete(name);
      if (records.size === 0) this.byNamespace.delete(namespace);
      return true;
    });
  }

  private imagesDir(namespace: string): string {
    return join(this.metadataDir, namespace, 'images');
  }

  private serialise<T>(op: () => Promise<T>): Promise<T> {
    const result = this.writes.then(op);
    this.writes = result.catch(() => undefined);
    return result.catch((err: unknown) => {
      throw err instanceof BerthError ? err : new BerthError('Internal', `writing image metadata: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    });
  }
}

/** Names hold '/', ':' and '@' and may be long; the file is named by their hash and the name is kept inside. */
function fileName(name: string): string {
  return `${createHash('sha256').update(name).digest('hex')}.json`;
}

function isDescriptor(v: unknown): v is Descriptor {
  const d = v as Descriptor;
  return typeof v === 'object' && v !== null && typeof d.mediaType === 'string' && isDigest(d.digest) && Number.isSafeInteger(d.size);
}

function parseRecord(text: string): ImageRecord | undefined {
  let v: ImageRecord;
  try {
    v = JSON.parse(text) as ImageRecord;
  } catch {
    return undefined; // reported by the caller as a corrupt file
  }
  const ok =
    typeof v === 'object' &&
    v !== null &&
    typeof v.name === 'string' &&
    isDescriptor(v.target) &&
    isDescriptor(v.manifest) &&
    isDigest(v.configDigest) &&
    Array.isArray(v.layers) &&
    v.layers.every(isDescriptor) &&
    Array.isArray(v.diffIDs) &&
    v.diffIDs.every(isDigest) &&
    v.diffIDs.length === v.layers.length &&
    (v.chainID === undefined || isDigest(v.chainID)) &&
    Number.isSafeInteger(v.size) &&
    Number.isFinite(v.createdAt) &&
    typeof v.platform === 'object' &&
    v.platform !== null;
  return ok ? v : undefined;
}
