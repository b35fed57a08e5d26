import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

/**
 * The blobs the namespace's images reference (index, manifest, config, layers). The content store is shared by
 * all namespaces; each sees only what its own images name.
 */
export const listContent: BerthRpc<'Content', 'List'> = async (request, ctx) => {
  const namespace = requestNamespace(request);
  const wanted = new Set<string>();
  for (const view of ctx.images.list(namespace)) {
    for (const r of view.records) for (const d of [r.target.digest, r.manifest.digest, r.configDigest, ...r.layers.map((l) => l.digest)]) wanted.add(d);
  }
  const blobs = (await ctx.content.list()).filter((b) => wanted.has(b.digest));
  return { blobs: blobs.map((b) => ({ digest: b.digest, size: b.size, created_at: b.createdAt })) };
};
