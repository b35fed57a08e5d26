import type { AuthConfig__Output } from '../../../proto/gen/runtime/v1/AuthConfig.js';
import type { Image } from '../../../proto/gen/runtime/v1/Image.js';
import type { ImageSpec__Output } from '../../../proto/gen/runtime/v1/ImageSpec.js';
import { invalidArgument } from '../../errors/errors.js';
import type { ImageView } from '../../images/image-store.js';
import type { ImageConfig } from '../../oci/image-spec.js';
import type { RegistryAuth } from '../../registry/registry-client.js';

/** The image a request names; every image RPC but ListImages needs one. */
export function requiredImage(spec: ImageSpec__Output | null, rpc: string): string {
  const image = spec?.image ?? '';
  if (image === '') throw invalidArgument(`${rpc}: image.image is empty; name an image by reference or ID`);
  return image;
}

/** CRI AuthConfig to registry credentials; an all-empty AuthConfig means anonymous. */
export function registryAuth(auth: AuthConfig__Output | null): RegistryAuth | undefined {
  if (auth === null) return undefined;
  const out: RegistryAuth = {};
  if (auth.username !== '') out.username = auth.username;
  if (auth.password !== '') out.password = auth.password;
  if (auth.auth !== '') out.auth = auth.auth;
  if (auth.identity_token !== '') out.identityToken = auth.identity_token;
  if (auth.registry_token !== '') out.registryToken = auth.registry_token;
  if (Object.keys(out).length === 0) return undefined;
  // kubelet names the registry a pull secret belongs to; the registry client sends the credentials nowhere else.
  if (auth.server_address !== '') out.serverAddress = auth.server_address;
  return out;
}

/**
 * The config's User as the CRI reports it: a numeric user (before any ':group') is a uid, anything else a
 * username kubelet checks against runAsNonRoot; no user means neither.
 */
export function imageUser(config: ImageConfig): Pick<Image, 'uid' | 'username'> {
  const configured: unknown = config.config?.User;
  const user = typeof configured === 'string' ? (configured.split(':')[0] ?? '') : '';
  if (user === '') return { uid: null, username: '' };
  if (/^\d+$/.test(user)) return { uid: { value: user }, username: '' };
  return { uid: null, username: user };
}

export function toCriImage(view: ImageView, config: ImageConfig, pinned: boolean): Image {
  const newest = view.records[0];
  return {
    id: view.id,
    repo_tags: view.repoTags,
    repo_digests: view.repoDigests,
    size: newest?.size ?? 0,
    ...imageUser(config),
    spec: { image: view.id, annotations: {} },
    pinned,
  };
}
