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
 * A store of immutable blobs addressed by digest, shared by every namespace (namespaces record which digests they
 * reference; see the image store). Commits are atomic (temp file, fsync, rename, fsync dir) and verified.
 */
export interface ContentStore {
  info(digest: Digest): Promise<ContentInfo | undefined>;
  /** Streams `source` into the store, verifying size and digest before commit. Idempotent if already present. */
  ingest(expected: Expected, source: Readable, onProgress?: (bytes: number) => void): Promise<ContentInfo>;
  /** Reads a whole blob, refusing blobs larger than `maxBytes` (manifests, configs). */
  readAll(digest: Digest, maxBytes: number): Promise<Buffer>;
  openRead(digest: Digest): Readable;
  /** Filesystem path of a committed blob (for tools that read it directly). */
  path(digest: Digest): string;
  delete(digest: Digest): Promise<void>;
  list(): Promise<ContentInfo[]>;
}
