import { createHash } from 'node:crypto';
import type { Digest } from '../oci/image-spec.js';

/**
 * Chain IDs of a layer stack, per the OCI image spec: the first equals its diff ID, each next one is
 * sha256(parentChainID + " " + diffID). A snapshot keyed by a chain ID therefore names exactly the filesystem
 * those layers produce, whichever image (or namespace) they came from.
 */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const diffID of diffIDs) {
    const parent = out.at(-1);
    out.push(parent === undefined ? diffID : (`sha256:${createHash('sha256').update(`${parent} ${diffID}`).digest('hex')}` as Digest));
  }
  return out;
}
