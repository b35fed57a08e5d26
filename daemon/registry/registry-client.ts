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
  /** An OAuth refresh token, traded at the token realm for an access token. */
  identityToken?: string;
  /** A ready Bearer token, sent as is. */
  registryToken?: string;
  /**
   * The registry these credentials belong to (CRI AuthConfig.server_address, e.g. `https://index.docker.io/v1/`,
   * `registry.example.com:5000`). If set they go only to that host, never to a mirror; if unset, to every host.
   */
  serverAddress?: string;
}

export interface FetchOptions {
  auth?: RegistryAuth;
  signal?: AbortSignal;
}

/**
 * Talks the OCI distribution protocol to a registry and its mirrors (hosts.toml), with anonymous, Bearer-token
 * and Basic auth. It verifies nothing about content: the content store checks digests on ingest.
 *
 * Failures are BerthErrors: NotFound (no such tag, repository or blob), Unauthenticated / PermissionDenied (the
 * message says to check the pull secret), Unavailable (host unreachable, 5xx, rate-limited, a download broken
 * off), DeadlineExceeded (no answer in time), FailedPrecondition (schema1 manifests, a broken hosts.toml),
 * ResourceExhausted (a manifest over images.max_manifest_bytes). An aborted signal rejects with its reason.
 */
export interface RegistryClient {
  /** The descriptor (media type, digest, size) of the manifest or index a tag or digest reference names. */
  resolve(ref: ImageReference, opts?: FetchOptions): Promise<Descriptor>;
  /**
   * Streams a manifest, index, config or layer by its descriptor. Manifest and index media types are fetched
   * from /manifests/, everything else from /blobs/. Pass it to ContentStore.ingest as the BlobSource. Read or
   * destroy the stream promptly: like any Node stream, one that fails while nobody listens crashes the process.
   */
  fetch(ref: ImageReference, desc: Descriptor, opts?: FetchOptions): Promise<Readable>;
  /** Releases idle connections; called once when the daemon stops. */
  close(): void;
}
