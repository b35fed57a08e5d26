import type { Readable } from 'node:stream';
import type { Digest } from '../oci/image-spec.js';

export interface ContentInfo {
  digest: Digest;
  size: number;
  /** When the blob was committed (ms since epoch). */
  createdAt: number;
}

/** What a writer must end up with; a blob that does not match is never committed. */
export interface Expected {
  digest: Digest;
  size: number;
}

/**
 * Opens the bytes of a blob, typically a registry download. It is called at most once per ingest and only when
 * the blob is neither present nor already being ingested, so a caller never downloads a blob another pull is
 * downloading.
 */
export type BlobSource = () => Promise<Readable>;

export interface IngestOptions {
  /**
   * Called with the running byte count of the download that fills this blob, also when that download was
   * started by another caller (pull-progress timeouts watch it).
   */
  onProgress?: (bytes: number) => void;
  /** Stops this caller's wait; a download this caller started is aborted only through its own source. */
  signal?: AbortSignal;
}

/**
 * A store of immutable blobs addressed by digest, shared by every namespace (namespaces record which digests they
 * reference; see the image store). Commits are atomic (temp file, fsync, rename, fsync dir) and verified.
 */
export interface ContentStore {
  info(digest: Digest): Promise<ContentInfo | undefined>;
  /**
   * Streams the source into the store, verifying size and digest before commit; DataLoss if they do not match.
   * Idempotent: a present blob returns at once without opening the source. Concurrent ingests of one digest
   * share one download: later callers wait for the first and get its result; if it fails, a waiter tries
   * once more with its own source (the first caller's failure may be its own cancellation).
   */
  ingest(expected: Expected, source: BlobSource, opts?: IngestOptions): Promise<ContentInfo>;
  /** Reads a whole blob and checks its digest, refusing blobs larger than `maxBytes` (manifests, configs). */
  readAll(digest: Digest, maxBytes: number): Promise<Buffer>;
  /** Streams a committed blob; NotFound if absent. */
  openRead(digest: Digest): Promise<Readable>;
  /** Filesystem path of a committed blob (for tools that read it directly). */
  path(digest: Digest): string;
  /** Removes a blob; absent blobs are not an error, so garbage collection may race with itself. */
  delete(digest: Digest): Promise<void>;
  list(): Promise<ContentInfo[]>;
}
