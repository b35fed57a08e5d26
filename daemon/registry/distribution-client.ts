import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { BerthError, type ErrorKind, invalidArgument } from '../errors/errors.js';
import { MediaType, type Descriptor } from '../oci/image-spec.js';
import { isDigest, parseDigest, sha256Of } from '../oci/digest.js';
import { formatReference, repositoryName } from '../oci/reference.js';
import { Authorizer, type AuthTarget } from './authorizer.js';
import { type HostCapability, type RegistryHost, registryHosts } from './hosts-config.js';
import { HttpTransport, NetworkError, readBody } from './http-request.js';
import type { FetchOptions, ImageReference, RegistryAuth, RegistryClient } from './registry-client.js';
import { parseChallenges } from './www-authenticate.js';

export interface DistributionClientOptions {
  /**
   * cri.registry.config_path: the certs.d directory of hosts.toml files; empty for none. Read at every request,
   * so a getter over the live config makes a reload (SIGHUP) apply to the next request.
   */
  readonly configPath?: string;
  /** images.max_manifest_bytes: a manifest read during resolve larger than this is refused. */
  maxManifestBytes: number;
  /** How long one request may wait for response headers before the next host is tried. */
  responseTimeoutMs?: number;
  userAgent?: string;
  /** Where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read; default process.env. */
  env?: NodeJS.ProcessEnv;
}

const MANIFEST_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest];
const SCHEMA1_TYPES: readonly string[] = [MediaType.dockerManifestSchema1, MediaType.dockerManifestSchema1Signed];
const ACCEPT_MANIFESTS = MANIFEST_TYPES.join(', ');
const MAX_ERROR_BODY_BYTES = 64 * 1024;
const MAX_REDIRECTS = 5;
/** Failures a next host (mirror or server) may not have; anything else (schema1, bad auth config) stops the pull. */
const FALLBACK_KINDS: ReadonlySet<ErrorKind> = new Set(['NotFound', 'Unavailable', 'DeadlineExceeded', 'Unauthenticated', 'PermissionDenied', 'ResourceExhausted']);

/**
 * The OCI distribution protocol (pull side) over HTTP(S). For each request the hosts of the reference's registry
 * are tried in hosts.toml order, skipping hosts without the needed capability; a host that fails in a way another
 * host might not (unreachable, 404, refused credentials) hands over to the next.
 */
export class DistributionClient implements RegistryClient {
  private readonly transport: HttpTransport;
  private readonly authorizer: Authorizer;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  /** https origins found to answer in plain HTTP (localhost registries); later requests go straight to http. */
  private readonly plainHttp = new Set<string>();

  constructor(private readonly options: DistributionClientOptions) {
    this.transport = new HttpTransport(options.env);
    this.timeoutMs = options.responseTimeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'berth/0.1';
    this.authorizer = new Authorizer(this.transport, this.userAgent, this.timeoutMs);
  }

  async resolve(ref: ImageReference, opts: FetchOptions = {}): Promise<Descriptor> {
    const reference = ref.digest ?? ref.tag;
    if (reference === undefined) throw invalidArgument(`image reference ${repositoryName(ref)} has neither tag nor digest`);
    const name = formatReference(ref);
    return this.tryHosts(ref, 'resolve', opts, async (host) => {
      const head = await this.send(host, ref, 'HEAD', `manifests/${reference}`, ACCEPT_MANIFESTS, opts);
      head.resume();
      if (head.statusCode === 200) {
        const desc = this.descriptorFromHeaders(head.headers, ref, name);
        if (desc !== undefined) return desc;
      } else if (head.statusCode === 404 || head.statusCode === 401 || head.statusCode === 403) {
        throw await statusError(head, host, ref, `image ${name}`);
      }
      // Some registries answer HEAD without a digest or media type, or not at all: read the manifest instead.
      const res = await this.send(host, ref, 'GET', `manifests/${reference}`, ACCEPT_MANIFESTS, opts);
      if (res.statusCode !== 200) throw await statusError(res, host, ref, `image ${name}`);
      const body = await readBody(res, this.options.maxManifestBytes, (size) => tooLarge(`manifest of ${name}`, size, this.options.maxManifestBytes));
      const mediaType = manifestMediaType(contentType(res.headers), body, name);
      // The bytes in hand name themselves; a Docker-Content-Digest header could only disagree with them.
      return { mediaType, digest: ref.digest ?? sha256Of(body), size: body.length };
    });
  }

  async fetch(ref: ImageReference, desc: Descriptor, opts: FetchOptions = {}): Promise<Readable> {
    const digest = parseDigest(desc.digest, `descriptor in ${formatReference(ref)}`);
    if (SCHEMA1_TYPES.includes(desc.mediaType)) throw schema1Error(formatReference(ref));
    const manifest = MANIFEST_TYPES.includes(desc.mediaType);
    const what = `${manifest ? 'manifest' : 'blob'} ${digest} of ${repositoryName(ref)}`;
    return this.tryHosts(ref, 'pull', opts, async (host) => {
      const accept = manifest ? ACCEPT_MANIFESTS : '*/*';
      const res = await this.send(host, ref, 'GET', `${manifest ? 'manifests' : 'blobs'}/${digest}`, accept, opts);
      if (res.statusCode !== 200) throw await statusError(res, host, ref, what);
      return namedErrors(res, host.origin, opts.signal);
    });
  }

  /** Closes idle connections. */
  close(): void {
    this.transport.close();
  }

  private async tryHosts<T>(ref: ImageReference, capability: HostCapability, opts: FetchOptions, attempt: (host: RegistryHost) => Promise<T>): Promise<T> {
    const hosts = (await registryHosts(this.options.configPath, ref.domain)).filter((h) => h.capabilities.includes(capability));
    if (hosts.length === 0) {
      throw new BerthError('FailedPrecondition', `no host configured for registry ${ref.domain} has the "${capability}" capability; fix ${this.options.configPath}/${ref.domain}/hosts.toml`, {
        context: { registry: ref.domain },
      });
    }
    const failures: Array<{ host: RegistryHost; err: BerthError }> = [];
    for (const host of hosts) {
      try {
        return await attempt(host);
      } catch (err) {
        if (opts.signal?.aborted || !(err instanceof BerthError) || !FALLBACK_KINDS.has(err.kind)) throw err;
        failures.push({ host, err });
      }
    }
    // The last host is the upstream server, whose answer is authoritative; mirrors' failures are added for context.
    const last = failures[failures.length - 1]!;
    if (failures.length === 1) throw last.err;
    const others = failures.slice(0, -1).map((f) => `${f.host.origin}: ${f.err.message}`);
    throw new BerthError(last.err.kind, `${last.err.message} (also tried ${others.join('; ')})`, { cause: last.err, context: last.err.context });
  }

  private async send(host: RegistryHost, ref: ImageReference, method: 'GET' | 'HEAD', suffix: string, accept: string, opts: FetchOptions): Promise<IncomingMessage> {
    const origin = this.plainHttp.has(host.origin) ? host.origin.replace(/^https:/, 'http:') : host.origin;
    const url = new URL(`${origin}${host.apiPath}/${ref.path}/${suffix}`);
    if (host.mirror) url.searchParams.set('ns', ref.domain);
    const target: AuthTarget = {
      origin,
      registry: ref.domain,
      repository: ref.path,
      scope: `repository:${ref.path}:pull`,
      tls: host,
      ...(host.proxy !== undefined && { proxy: host.proxy }),
      ...(opts.signal && { signal: opts.signal }),
    };
    const auth = credentialsFor(origin, opts.auth);
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorizer.header(target, auth);
      let res: IncomingMessage;
      try {
        res = await this.transport.request({
          method,
          url,
          headers: { ...host.headers, ...(authorization && { authorization }) },
          commonHeaders: { accept, 'user-agent': this.userAgent },
          tls: host,
          ...(opts.signal && { signal: opts.signal }),
          timeoutMs: this.timeoutMs,
          connectTimeoutMs: host.dialTimeoutMs,
          maxRedirects: MAX_REDIRECTS,
          ...(host.proxy !== undefined && { proxy: host.proxy }),
        });
      } catch (err) {
        if (err instanceof NetworkError && err.isPlainHttpAnswer && host.httpFallback && url.protocol === 'https:') {
          this.plainHttp.add(host.origin);
          return this.send(host, ref, method, suffix, accept, opts);
        }
        throw err;
      }
      if (res.statusCode === 401 && attempt === 0) {
        const challenges = parseChallenges(res.headers['www-authenticate']);
        if (this.authorizer.unauthorized(target, challenges, authorization, auth)) {
          res.resume();
          continue;
        }
      }
      return res;
    }
  }

  private descriptorFromHeaders(headers: IncomingHttpHeaders, ref: ImageReference, name: string): Descriptor | undefined {
    const mediaType = contentType(headers);
    if (mediaType !== undefined && SCHEMA1_TYPES.includes(mediaType)) throw schema1Error(name);
    const headerDigest = headerString(headers['docker-content-digest']);
    const digest = ref.digest ?? (headerDigest !== undefined && isDigest(headerDigest) ? headerDigest : undefined);
    const size = Number(headers['content-length']);
    if (mediaType === undefined || !MANIFEST_TYPES.includes(mediaType) || digest === undefined || !Number.isSafeInteger(size)) return undefined;
    if (size > this.options.maxManifestBytes) throw tooLarge(`manifest of ${name}`, size, this.options.maxManifestBytes);
    return { mediaType, digest, size };
  }
}

/** Docker Hub answers under several names; credentials for one are meant for all. */
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** As containerd does: credentials that name their server go only to that host; unnamed ones go to every host. */
function credentialsFor(origin: string, auth: RegistryAuth | undefined): RegistryAuth | undefined {
  if (!auth?.serverAddress) return auth;
  let named: string;
  try {
    named = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(auth.serverAddress) ? auth.serverAddress : `https://${auth.serverAddress}`).host;
  } catch {
    throw invalidArgument(`registry auth: server address ${JSON.stringify(auth.serverAddress)} is neither a host nor a URL; fix the pull secret`);
  }
  const host = new URL(origin).host;
  return named === host || (DOCKER_HUB_HOSTS.has(named) && DOCKER_HUB_HOSTS.has(host)) ? auth : undefined;
}

function manifestMediaType(header: string | undefined, body: Buffer, name: string): string {
  if (header !== undefined && SCHEMA1_TYPES.includes(header)) throw schema1Error(name);
  let doc: { schemaVersion?: unknown; mediaType?: unknown; manifests?: unknown; layers?: unknown };
  try {
    doc = JSON.parse(body.toString('utf8')) as typeof doc;
  } catch {
    throw new BerthError('FailedPrecondition', `the registry's manifest for ${name} is not JSON; the image cannot be pulled`);
  }
  if (doc.schemaVersion === 1) throw schema1Error(name);
  if (header !== undefined && MANIFEST_TYPES.includes(header)) return header;
  if (typeof doc.mediaType === 'string' && MANIFEST_TYPES.includes(doc.mediaType)) return doc.mediaType;
  if (Array.isArray(doc.manifests)) return MediaType.ociIndex;
  if (Array.isArray(doc.layers)) return MediaType.ociManifest;
  throw new BerthError('FailedPrecondition', `the registry's manifest for ${name} has unsupported media type ${header ?? 'none'}; berth pulls OCI and Docker schema2 images`);
}

function schema1Error(name: string): BerthError {
  return new BerthError('FailedPrecondition', `image ${name} has a Docker schema1 manifest: schema1 manifests are deprecated and not supported; re-push the image with a current client`, {
    context: { reference: name },
  });
}

function tooLarge(what: string, size: number, max: number): BerthError {
  return new BerthError('ResourceExhausted', `${what} is ${size} bytes, more than the ${max} allowed (images.max_manifest_bytes)`, { context: { size, max } });
}

/** A typed error for a non-success status, with the registry's error codes (MANIFEST_UNKNOWN, DENIED…) if any. */
async function statusError(res: IncomingMessage, host: RegistryHost, ref: ImageReference, what: string): Promise<BerthError> {
  const status = res.statusCode ?? 0;
  const codes = await registryErrorCodes(res);
  const detail = codes.length > 0 ? ` (${codes.join(', ')})` : '';
  const repo = repositoryName(ref);
  const context = { registry: ref.domain, host: host.origin, repository: ref.path, status };
  switch (status) {
    case 401:
      return new BerthError('Unauthenticated', `registry ${ref.domain} (${host.origin}) requires authentication for ${repo}${detail}; check the pull secret / auth for this registry`, { context });
    case 403:
      return new BerthError('PermissionDenied', `registry ${ref.domain} (${host.origin}) denied access to ${repo}${detail}; check the pull secret / auth for this registry`, { context });
    case 404:
      return new BerthError('NotFound', `${what} not found on ${host.origin}${detail}`, { context });
    case 429:
      return new BerthError('Unavailable', `registry ${ref.domain} (${host.origin}) is rate-limiting pulls of ${repo}${detail}; retry later or configure a mirror`, { context });
    default:
      return new BerthError('Unavailable', `registry ${ref.domain} (${host.origin}) answered HTTP ${status} for ${what}${detail}`, { context });
  }
}

async function registryErrorCodes(res: IncomingMessage): Promise<string[]> {
  let body: Buffer;
  try {
    body = await readBody(res, MAX_ERROR_BODY_BYTES, (size) => new Error(`error body of ${size} bytes`));
  } catch {
    // An unreadable error body leaves the status code to speak for itself.
    return [];
  }
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown }> };
    return (doc.errors ?? []).map((e) => e.code).filter((c): c is string => typeof c === 'string');
  } catch {
    return [];
  }
}


/**
 * Re-raises body errors (reset) as Unavailable naming the host, or as the abort reason if the caller aborted, and lets
 * a consumer's destroy close the socket.
 */
function namedErrors(res: IncomingMessage, origin: string, signal: AbortSignal | undefined): Readable {
  const out = new PassThrough();
  res.on('error', (err) => {
    if (signal?.aborted) out.destroy(signal.reason instanceof Error ? signal.reason : err);
    else out.destroy(new BerthError('Unavailable', `registry host ${new URL(origin).host} broke off a download: ${err.message}`, { cause: err }));
  });
  out.on('close', () => {
    if (!res.complete) res.destroy();
  });
  res.pipe(out);
  return out;
}

function contentType(headers: IncomingHttpHeaders): string | undefined {
  const value = headers['content-type'];
  return value === undefined ? undefined : value.split(';')[0]!.trim().toLowerCase();
}

function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
