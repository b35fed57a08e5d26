import type { Readable } from 'node:stream';
import type { Descriptor } from '../oci/image-spec.js';
import type { ImageReference } from '../oci/reference.js';

export type { ImageReference } from '../oci/reference.js';

/** Credentials as the CRI's AuthConfig carries them (any one form). */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64("user:password"), as in a docker config.json. */
  auth?: string;
  identityToken?: string;
  registryToken?: string;
}

export interface FetchOptions {
  auth?: RegistryAuth;
  signal?: AbortSignal;
}

/**
 * Talks the OCI distribution protocol to a registry and its mirrors (hosts.toml), with anonymous, Bearer-token
 * and Basic auth. It verifies nothing about content: the content store checks digests on ingest.
 */
export interface RegistryClient {
  /** The descriptor (media type, digest, size) of the manifest or index a tag or digest reference names. */
  resolve(ref: ImageReference, opts?: FetchOptions): Promise<Descriptor>;
  /** Streams a manifest, index, config or layer by its descriptor. */
  fetch(ref: ImageReference, desc: Descriptor, opts?: FetchOptions): Promise<Readable>;
}
