import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, isBerthError, notFound, wrapError } from '../errors/errors.js';
import { fsyncDir } from '../fs/atomic-file.js';
import type { Digest } from '../oci/image-spec.js';
import { isDigest, parseDigest, sha256Of } from '../oci/digest.js';
import type { BlobSource, ContentInfo, ContentStore, Expected, IngestOptions } from './content-store.js';

interface Flight {
  promise: Promise<ContentInfo>;
  listeners: Set<(bytes: number) => void>;
}

/**
 * The content store on local disk: `<root>/content/blobs/sha256/<hex>`, downloads staged in
 * `<root>/content/ingest/`. One daemon owns a root, so whatever is in ingest/ at open is a crash leftover.
 */
export class LocalContentStore implements ContentStore {
  private readonly blobsDir: string;
  private readonly ingestDir: string;
  private readonly inflight = new Map<Digest, Flight>();

  private constructor(root: string) {
    this.blobsDir = join(root, 'content', 'blobs', 'sha256');
    this.ingestDir = join(root, 'content', 'ingest');
  }

  static async open(root: string): Promise<LocalContentStore> {
    const store = new LocalContentStore(root);
    await mkdir(join(root, 'content'), { recursive: true, mode: 0o700 });
    await mkdir(store.blobsDir, { recursive: true, mode: 0o700 });
    await rm(store.ingestDir, { recursive: true, force: true });
    await mkdir(store.ingestDir, { mode: 0o700 });
    return store;
  }

  path(digest: Digest): string {
    return join(this.blobsDir, parseDigest(digest, 'content store path').slice('sha256:'.length));
  }

  async info(digest: Digest): Promise<ContentInfo | undefined> {
    try {
      const st = await stat(this.path(digest));
      return { digest, size: st.size, createdAt: st.mtimeMs };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw wrapError(err, 'Internal', `content store: stat blob ${digest}`);
    }
  }

  async ingest(expected: Expected, source: BlobSource, opts: IngestOptions = {}): Promise<ContentInfo> {
    parseDigest(expected.digest, 'content store ingest');
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
      throw new BerthError('InvalidArgument', `content store ingest of ${expected.digest}: size ${expected.size} is not a byte count`);
    }
    // A waiter whose leader failed loops to lead a download of its own (or to wait for a newer leader).
    for (;;) {
      opts.signal?.throwIfAborted();
      const present = await this.info(expected.digest);
      if (present !== undefined) return checkPresentSize(present, expected);
      const flight = this.inflight.get(expected.digest);
      if (flight === undefined) return this.lead(expected, source, opts);
      try {
        return await this.follow(flight, opts);
      } catch (err) {
        if (opts.signal?.aborted) throw err;
      }
    }
  }

  /** True while a download of `digest` is under way in this process (for progress reporting and tests). */
  isIngesting(digest: Digest): boolean {
    return this.inflight.has(digest);
  }

  async readAll(digest: Digest, maxBytes: number): Promise<Buffer> {
    const fh = await this.openBlob(digest);
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) {
        throw new BerthError('ResourceExhausted', `blob ${digest} is ${size} bytes, more than the ${maxBytes} allowed for a manifest or config (images.max_manifest_bytes)`, {
          context: { digest, size, maxBytes },
        });
      }
      const bytes = await fh.readFile();
      const got = sha256Of(bytes);
      if (got !== digest) {
        throw new BerthError('DataLoss', `blob ${digest} on disk is corrupt (its bytes hash to ${got}); remove the image and pull it again`, {
          context: { digest, got, path: this.path(digest) },
        });
      }
      return bytes;
    } finally {
      await fh.close();
    }
  }

  async openRead(digest: Digest): Promise<Readable> {
    const fh = await this.openBlob(digest);
    return fh.createReadStream({ autoClose: true });
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.path(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw wrapError(err, 'Internal', `content store: delete blob ${digest}`);
    }
  }

  async list(): Promise<ContentInfo[]> {
    const names = await readdir(this.blobsDir);
    const infos: ContentInfo[] = [];
    for (const name of names) {
      const digest = `sha256:${name}`;
      // Only committed blobs are named by their digest; anything else here was not written by the store.
      if (!isDigest(digest)) continue;
      const info = await this.info(digest);
      if (info !== undefined) infos.push(info);
    }
    return infos;
  }

  private lead(expected: Expected, source: BlobSource, opts: IngestOptions): Promise<ContentInfo> {
    const listeners = new Set<(bytes: number) => void>();
    if (opts.onProgress) listeners.add(opts.onProgress);
    const promise = this.download(expected, source, opts.signal, (bytes) => {
      for (const listener of listeners) listener(bytes);
    }).finally(() => this.inflight.delete(expected.digest));
    this.inflight.set(expected.digest, { promise, listeners });
    return promise;
  }

  private async follow(flight: Flight, opts: IngestOptions): Promise<ContentInfo> {
    const { onProgress, signal } = opts;
    if (onProgress) flight.listeners.add(onProgress);
    let onAbort: (() => void) | undefined;
    try {
      if (signal === undefined) return await flight.promise;
      signal.throwIfAborted();
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      return await Promise.race([flight.promise, aborted]);
    } finally {
      if (onProgress) flight.listeners.delete(onProgress);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private async download(expected: Expected, source: BlobSource, signal: AbortSignal | undefined, progress: (bytes: number) => void): Promise<ContentInfo> {
    const hex = expected.digest.slice('sha256:'.length);
    const tmp = join(this.ingestDir, `${hex}.${randomBytes(6).toString('hex')}`);
    let committed = false;
    try {
      // Committed by someone else since the caller looked (a small blob can finish in between).
      const present = await this.info(expected.digest);
      if (present !== undefined) {
        committed = true;
        return checkPresentSize(present, expected);
      }
      signal?.throwIfAborted();
      // The temp file is open before the source, so its stream is read from the first tick: a stream that
      // errors while nobody listens would crash the process.
      const fh = await onDisk(open(tmp, 'wx', 0o444), `create ${tmp}`);
      try {
        const stream = await source();
        const stop = () => stream.destroy(signal?.reason instanceof Error ? signal.reason : new Error('ingest aborted'));
        if (signal?.aborted) stop();
        signal?.addEventListener('abort', stop, { once: true });
        try {
          await writeVerified(expected, stream, fh, tmp, progress);
        } finally {
          signal?.removeEventListener('abort', stop);
        }
      } finally {
        await fh.close();
      }
      await onDisk(rename(tmp, this.path(expected.digest)), `commit blob ${expected.digest}`);
      committed = true;
      await onDisk(fsyncDir(this.blobsDir), `sync ${this.blobsDir}`);
    } catch (err) {
      if (isBerthError(err) || signal?.aborted) throw err;
      // Disk failures are BerthErrors already (onDisk); anything else came from the source, the download.
      throw wrapError(err, 'Unavailable', `content store: download of blob ${expected.digest} failed`, { digest: expected.digest });
    } finally {
      if (!committed) await rm(tmp, { force: true });
    }
    const info = await this.info(expected.digest);
    if (info === undefined) throw new BerthError('Internal', `content store: blob ${expected.digest} vanished right after commit`);
    return info;
  }

  private async openBlob(digest: Digest): Promise<FileHandle> {
    try {
      return await open(this.path(digest), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`blob ${digest} is not in the content store; pull the image again`, { digest });
      throw wrapError(err, 'Internal', `content store: open blob ${digest}`);
    }
  }
}

/** Writes `source` to `fh`, hashing as it goes; never writes past the expected size and fsyncs before return. */
async function writeVerified(expected: Expected, source: Readable, fh: FileHandle, tmp: string, progress: (bytes: number) => void): Promise<void> {
  const hash = createHash('sha256');
  let written = 0;
  for await (const chunk of source) {
    if (!Buffer.isBuffer(chunk)) throw new BerthError('Internal', `content store: blob ${expected.digest} source yields text, not bytes`);
    if (written + chunk.length > expected.size) {
      throw new BerthError('DataLoss', `blob ${expected.digest} is larger than its descriptor's ${expected.size} bytes; refusing it (the registry or a mirror serves wrong content)`, {
        context: { digest: expected.digest, expectedSize: expected.size },
      });
    }
    hash.update(chunk);
    for (let off = 0; off < chunk.length; ) off += (await onDisk(fh.write(chunk, off), `write ${tmp}`)).bytesWritten;
    written += chunk.length;
    progress(written);
  }
  if (written !== expected.size) {
    throw new BerthError('DataLoss', `blob ${expected.digest} ended after ${written} of its ${expected.size} bytes; the download was truncated`, {
      context: { digest: expected.digest, expectedSize: expected.size, gotSize: written },
    });
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== expected.digest) {
    throw new BerthError('DataLoss', `blob content does not match its digest: expected ${expected.digest}, got ${got}; refusing it (the registry or a mirror serves wrong content)`, {
      context: { digest: expected.digest, got },
    });
  }
  await onDisk(fh.sync(), `sync ${tmp}`);
}

/** Names a filesystem failure; a full disk is ResourceExhausted so the kubelet's image GC can react. */
async function onDisk<T>(op: Promise<T>, what: string): Promise<T> {
  try {
    return await op;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw wrapError(err, code === 'ENOSPC' || code === 'EDQUOT' ? 'ResourceExhausted' : 'Internal', `content store: cannot ${what}`, { code });
  }
}

function checkPresentSize(info: ContentInfo, expected: Expected): ContentInfo {
  if (info.size !== expected.size) {
    throw new BerthError('DataLoss', `blob ${expected.digest} is ${info.size} bytes but its descriptor says ${expected.size}; the manifest is wrong`, {
      context: { digest: expected.digest, expectedSize: expected.size, gotSize: info.size },
    });
  }
  return info;
}
