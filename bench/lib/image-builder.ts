import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';

export const MEDIA_TYPE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** One tar entry of a layer. Every entry gets uid/gid 0 and a fixed mtime, so equal input gives equal digests. */
export type LayerEntry =
  | { type: 'directory'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string };

/** A gzip layer written to disk. */
export interface BuiltLayer {
  file: string;
  /** Digest of the compressed blob (what the manifest names). */
  digest: string;
  size: number;
  /** Digest of the uncompressed tar (what the image config's rootfs names). */
  diffId: string;
  uncompressedSize: number;
}

/** A single-platform OCI image ready to push: its blobs on disk, config and manifest in memory. */
export interface BuiltImage {
  layers: BuiltLayer[];
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Pass bytes through unchanged while hashing and counting them. */
class Measure extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** Write entries as a gzip-compressed tar to file. entries is consumed lazily so a layer need not fit in memory. */
export async function writeLayer(file: string, entries: Iterable<LayerEntry>, gzipLevel = 6): Promise<BuiltLayer> {
  const pack = tar.pack();
  const raw = new Measure();
  const compressed = new Measure();
  const written = pipeline(pack, raw, createGzip({ level: gzipLevel }), compressed, createWriteStream(file));
  const add = (header: Partial<tar.Header> & { name: string }, body: Buffer = Buffer.alloc(0)): Promise<void> =>
    new Promise((resolve, reject) => {
      pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
    });
  for (const e of entries) {
    const base = { name: e.path, uid: 0, gid: 0, mtime: FIXED_MTIME };
    if (e.type === 'directory') await add({ ...base, type: 'directory', mode: e.mode ?? 0o755 });
    else if (e.type === 'symlink') await add({ ...base, type: 'symlink', linkname: e.target, mode: 0o777 });
    else await add({ ...base, type: 'file', mode: e.mode ?? 0o644, size: e.data.length }, e.data);
  }
  pack.finalize();
  await written;
  return {
    file,
    digest: `sha256:${compressed.hash.digest('hex')}`,
    size: compressed.bytes,
    diffId: `sha256:${raw.hash.digest('hex')}`,
    uncompressedSize: raw.bytes,
  };
}

export interface ImageRuntimeConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  WorkingDir?: string;
}

/** Assemble the image config and manifest for layers (bottom first). */
export function assembleImage(layers: BuiltLayer[], runtimeConfig: ImageRuntimeConfig): BuiltImage {
  const config = Buffer.from(JSON.stringify({
    created: FIXED_MTIME.toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], ...runtimeConfig },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  }));
  const configDigest = sha256(config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: { mediaType: MEDIA_TYPE_CONFIG, digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: l.digest, size: l.size })),
  }));
  return { layers, config, configDigest, manifest, manifestDigest: sha256(manifest) };
}
