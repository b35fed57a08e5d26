import { invalidArgument } from '../errors/errors.js';
import { parseDigest } from './digest.js';
import type { Digest } from './image-spec.js';

/**
 * Image references as Docker and containerd read them: `busybox` is docker.io/library/busybox:latest,
 * `localhost:5000/x@sha256:…` names a registry on localhost. The grammar follows the distribution reference
 * grammar.
 */
export interface ImageReference {
  /** Registry host, with port if any: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
const DEFAULT_TAG = 'latest';
const MAX_NAME_LENGTH = 255;
const TAG = /^[\w][\w.-]{0,127}$/;

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_NAME = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$/;
const DOMAIN_IPV6 = /^\[[a-fA-F0-9:.]+\](?::[0-9]+)?$/;

/** Parses and normalises a reference; throws InvalidArgument naming the reference and what is wrong. */
export function parseReference(input: string): ImageReference {
  const bad = (why: string): never => {
    throw invalidArgument(`invalid image reference "${input}": ${why}`, { reference: input });
  };
  if (input.length === 0) bad('it is empty');
  if (input !== input.trim()) bad('it has leading or trailing whitespace');

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = parseDigest(rest.slice(at + 1), `invalid image reference "${input}"`);
    rest = rest.slice(0, at);
  }

  // A tag follows the last ':' only if no '/' comes after it; otherwise that ':' is a registry port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) bad(`tag "${tag}" must be 1-128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'`);
  }
  if (rest.length === 0) bad('the repository name is empty');

  // The first component is a registry host if it looks like one (has '.' or ':', is localhost, or has capitals).
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (!DOMAIN_NAME.test(domain) && !DOMAIN_IPV6.test(domain)) bad(`registry host "${domain}" is not a valid host[:port]`);
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;

  for (const component of path.split('/')) {
    if (component !== component.toLowerCase()) bad('repository names must be lowercase');
    if (!PATH_COMPONENT.test(component)) {
      bad(`repository path component "${component}" must be lowercase letters and digits separated by '.', '_', '__' or '-'`);
    }
  }
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) bad(`the repository name is longer than ${MAX_NAME_LENGTH} characters`);

  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { domain, path, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** `docker.io/library/busybox` — the repository without tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The canonical string: `docker.io/library/busybox:latest`, `host/x:tag@sha256:…`. Parsing it gives `ref` back. */
export function formatReference(ref: ImageReference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}
