/**
 * Unpacks one layer (a tar, gzip-compressed or not) into an active snapshot's upper dir and returns the layer's
 * diff ID, the sha256 of the uncompressed tar that the image config lists under rootfs.diff_ids; comparing the
 * two is the caller's job. Entries are written by LayerWriter (layer-writer.ts), which holds the safety rules.
 *
 * Limits bound what one layer may cost: the uncompressed bytes (every byte out of the decompressor counts, so a
 * gzip bomb stops at the limit, not when the disk is full) and the number of entries. A refused or failed layer
 * leaves its writes in the upper dir only; the caller removes the snapshot.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { isSnapshotError, SnapshotError } from './errors.js';
import { LayerWriter, type LayerHeader } from './layer-writer.js';
import { isErrno } from './libc.js';
import { silentLogger, type SnapshotLogger } from './log.js';
import { keepRawPaxXattrs } from './pax-xattrs.js';

export interface ApplyTarget {
  /** The active snapshot's upper dir (Snapshotter.upperDir). */
  upperDir: string;
  /** Its parents' dirs, topmost first (Snapshotter.lowerDirs). */
  lowerDirs: readonly string[];
}

export interface ApplyOptions {
  /** `[images] max_layer_unpacked_bytes`. */
  maxUnpackedBytes: number;
  /** `[images] max_layer_entries`. */
  maxEntries: number;
  log?: SnapshotLogger;
  signal?: AbortSignal;
}

export interface ApplyResult {
  /** `sha256:<hex>` of the uncompressed layer tar. */
  diffID: string;
  /** Bytes of the uncompressed layer tar. */
  size: number;
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GUNZIP_CHUNK_BYTES = 256 * 1024;

export async function applyLayer(layer: AsyncIterable<Uint8Array>, target: ApplyTarget, options: ApplyOptions): Promise<ApplyResult> {
  const log = options.log ?? silentLogger;
  const writer = new LayerWriter(target.upperDir, target.lowerDirs, log);
  const hash = createHash('sha256');
  let size = 0;
  let entries = 0;

  async function* meter(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      size += chunk.length;
      if (size > options.maxUnpackedBytes) throw limitExceeded('unpacked bytes', options.maxUnpackedBytes, 'max_layer_unpacked_bytes');
      hash.update(chunk);
      yield chunk;
    }
  }

  const extract = tar.extract();
  keepRawPaxXattrs(extract);
  // A failed entry stops the whole pipeline through this signal rather than through the extractor's callback,
  // which would re-raise the error after the pipeline has stopped listening.
  const stop = new AbortController();
  let entryError: unknown;
  // The entry being written; it always settles (a failure lands in entryError), and is awaited before returning so
  // nothing writes into the snapshot after applyLayer has settled.
  let writing: Promise<void> = Promise.resolve();
  extract.on('entry', (parsed, body, next) => {
    const header = parsed as LayerHeader;
    // A body destroyed with the extractor re-raises its error; the pipeline (or the reading loop) reports it.
    body.on('error', () => undefined);
    entries++;
    writing = (async () => {
      if (entries > options.maxEntries) throw limitExceeded('entries', options.maxEntries, 'max_layer_entries');
      if (header.size > options.maxUnpackedBytes) throw limitExceeded('unpacked bytes', options.maxUnpackedBytes, 'max_layer_unpacked_bytes');
      // streamx Readables are async iterables, though tar-stream's types do not say so.
      await writer.write(header, body as unknown as AsyncIterable<Uint8Array>);
    })().then(
      () => next(),
      (err: unknown) => {
        entryError = withEntry(err, header.name);
        stop.abort(entryError);
      },
    );
  });

  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([stop.signal, options.signal]);
  let failure: unknown;
  try {
    // tar-stream's extractor is a streamx Writable, which Node's pipeline drives like its own.
    await pipeline(layer, decompress, meter, extract as unknown as NodeJS.WritableStream, { signal });
  } catch (err) {
    // An entry's failure aborts the pipeline, so it is the cause; otherwise the pipeline's own error is.
    failure = entryError ?? asCorruptLayer(err);
  }
  await writing;
  // A tar without end-of-archive blocks can end while its last entry is still being written.
  failure ??= entryError;
  if (failure !== undefined) throw failure;
  writer.finish();
  return { diffID: `sha256:${hash.digest('hex')}`, size };
}

/** Passes a gzip stream through gunzip and a plain tar through unchanged, told apart by the first bytes. */
async function* decompress(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const it = chunks[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < ZSTD_MAGIC.length && !ended) {
    const next = await it.next();
    if (next.done === true) ended = true;
    else head = Buffer.concat([head, asBuffer(next.value)]);
  }
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (let next = await it.next(); next.done !== true; next = await it.next()) yield asBuffer(next.value);
  }
  if (head.subarray(0, ZSTD_MAGIC.length).equals(ZSTD_MAGIC)) {
    throw new SnapshotError('Unsupported', 'the layer is zstd-compressed, which berth cannot unpack (Node.js 20 has no zstd); use an image with gzip or uncompressed layers');
  }
  if (!head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) {
    yield* all();
    return;
  }
  // zlib's default 16 KiB output chunks cost a thread-pool round trip, a stream push, a tar parse step and a
  // write(2) each; 256 KiB chunks made unpacking a 200 MiB image about a fifth faster (bench/README.md).
  const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
  const feeding = pipeline(all(), gunzip);
  try {
    // Iterating the gunzip stream pulls from it only as fast as the tar is consumed: inflating is back-pressured.
    yield* gunzip;
    await feeding;
  } finally {
    gunzip.destroy();
    await feeding.catch(() => undefined);
  }
}

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

function limitExceeded(what: string, limit: number, key: string): SnapshotError {
  return new SnapshotError('LimitExceeded', `the layer exceeds the limit of ${limit} ${what}; raise [images] ${key} if the image is trusted`, {
    context: { limit, key: `images.${key}` },
  });
}

/** tar-stream's and zlib's complaints about their input mean a corrupt layer; they carry no codes of their own. */
const CORRUPT_TAR = /^(Invalid tar header|Invalid header|Unexpected end of data|Header exceeds max size)/;

function asCorruptLayer(err: unknown): unknown {
  if (!(err instanceof Error) || isSnapshotError(err)) return err;
  const zlibCode = (err as NodeJS.ErrnoException).code?.startsWith('Z_') === true;
  if (!zlibCode && !CORRUPT_TAR.test(err.message)) return err;
  return new SnapshotError('InvalidLayer', `the layer is not a valid ${zlibCode ? 'gzip stream' : 'tar archive'}: ${err.message}`, { cause: err });
}

/** Names the entry in a failure that does not already (a file system error, a corrupt tar). */
function withEntry(err: unknown, entry: string): Error {
  if (isSnapshotError(err)) return err;
  const detail = err instanceof Error ? err.message : String(err);
  // A name component over 255 bytes, or more hard links than the file system allows: the layer's fault.
  if (isErrno(err, 'ENAMETOOLONG', 'EMLINK')) return new SnapshotError('InvalidLayer', `layer entry "${entry}" cannot be unpacked: ${detail}`, { cause: err, context: { entry } });
  return new Error(`unpacking layer entry "${entry}": ${detail}`, { cause: err });
}
