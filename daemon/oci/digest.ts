import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors/errors.js';
import type { Digest } from './image-spec.js';

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const ANY_DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Only sha256 digests are accepted: the content store addresses blobs by sha256. */
export function isDigest(value: string): value is Digest {
  return SHA256_DIGEST.test(value);
}

/** Checks a digest string; `what` names its holder (a reference, a descriptor, a blob) in the error. */
export function parseDigest(value: string, what: string): Digest {
  if (isDigest(value)) return value;
  if (ANY_DIGEST.test(value) && !value.startsWith('sha256:')) {
    throw invalidArgument(`${what}: digest "${value}" uses an unsupported algorithm; only sha256 is supported`, { digest: value });
  }
  throw invalidArgument(`${what}: "${value}" is not a valid digest; expected sha256: followed by 64 lowercase hex digits`, { digest: value });
}

export function sha256Of(bytes: Buffer): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
