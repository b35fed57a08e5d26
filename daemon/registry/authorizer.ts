import { createHash } from 'node:crypto';
import { BerthError } from '../errors/errors.js';
import { readBody, type HttpTransport, type TlsOptions } from './http-request.js';
import type { RegistryAuth } from './registry-client.js';
import type { Challenge } from './www-authenticate.js';

/**
 * Turns credentials into Authorization headers for one registry host, the way Docker's token protocol works:
 * the host's 401 names a scheme; for Bearer, a token for `repository:<path>:pull` comes from the realm (with
 * Basic credentials, or an identity token as OAuth refresh token) and is cached per host, scope and credentials
 * until it expires. Tokens of different pull secrets are never shared.
 */
export interface AuthTarget {
  /** Registry origin the challenge came from. */
  origin: string;
  /** `registry.example.com` — as the user wrote it, for error messages. */
  registry: string;
  repository: string;
  scope: string;
  tls: TlsOptions;
  /** The host's configured proxy, used for the token realm too. */
  proxy?: string;
  signal?: AbortSignal;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Docker's token spec: a token without expires_in lives 60 s. */
const DEFAULT_TOKEN_LIFETIME_S = 60;
/** Renew a little early so a token does not expire between the cache check and the registry's check. */
const EXPIRY_MARGIN_MS = 5_000;
const MAX_TOKEN_RESPONSE_BYTES = 1 << 20;

export class Authorizer {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly userAgent: string,
    private readonly timeoutMs: number,
  ) {}

  /** The Authorization header to send, if this host has challenged before. */
  async header(target: AuthTarget, auth: RegistryAuth | undefined): Promise<string | undefined> {
    if (auth?.registryToken) return `Bearer ${auth.registryToken}`;
    const challenge = this.challenges.get(target.origin);
    if (challenge === undefined) return undefined;
    if (challenge.scheme === 'basic') {
      const basic = basicCredentials(auth);
      return basic === undefined ? undefined : `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
    }
    return `Bearer ${await this.token(target, challenge, auth)}`;
  }

  /**
   * Learns from a 401. Returns true if sending again can succeed: a scheme we can answer that we did not answer
   * with this request, or a Bearer token that may merely have expired on the server's clock.
   */
  unauthorized(target: AuthTarget, challenges: Challenge[], sent: string | undefined, auth: RegistryAuth | undefined): boolean {
    const usable = challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
    if (usable === undefined || auth?.registryToken) return false;
    this.challenges.set(target.origin, usable);
    if (usable.scheme === 'basic') return sent === undefined && basicCredentials(auth) !== undefined;
    if (sent === undefined) return true;
    if (!sent.startsWith('Bearer ')) return false;
    // The host refused a token we hold (expired early, revoked): forget this host's tokens and ask again.
    for (const key of this.tokens.keys()) if (key.startsWith(`${target.origin}|`)) this.tokens.delete(key);
    return true;
  }

  /** Concurrent requests (parallel layer downloads) with the same key share one token fetch. */
  private async token(target: AuthTarget, challenge: Challenge, auth: RegistryAuth | undefined): Promise<string> {
    const key = `${target.origin}|${challenge.params.realm}|${challenge.params.service ?? ''}|${target.scope}|${credentialKey(auth)}`;
    const existing = this.tokens.get(key);
    if (existing !== undefined) {
      const cached = await untilAborted(existing, target.signal);
      if (cached.expiresAt > Date.now()) return cached.token;
      if (this.tokens.get(key) === existing) this.tokens.delete(key);
    }
    let pending = this.tokens.get(key);
    if (pending === undefined) {
      // Not tied to the caller's signal: other callers may be waiting for the same token.
      const fetching = this.fetchToken(target, challenge, auth);
      pending = fetching;
      this.tokens.set(key, fetching);
      // Expired and failed tokens leave the cache, so a long-running daemon does not keep every token it had.
      const forget = () => {
        if (this.tokens.get(key) === fetching) this.tokens.delete(key);
      };
      fetching.then((t) => setTimeout(forget, Math.max(0, t.expiresAt - Date.now())).unref(), forget);
    }
    return (await untilAborted(pending, target.signal)).token;
  }

  private async fetchToken(target: AuthTarget, challenge: Challenge, auth: RegistryAuth | undefined): Promise<CachedToken> {
    const realm = parseRealm(challenge.params.realm ?? '', target);
    const service = challenge.params.service;
    const scopes = [target.scope];
    // The registry's challenge may ask for more (or other) scope than ours; ask for both.
    if (challenge.params.scope && challenge.params.scope !== target.scope) scopes.push(challenge.params.scope);

    const commonHeaders = { 'user-agent': this.userAgent, accept: 'application/json' };
    const sameOrigin = realm.origin === target.origin;
    const tls = sameOrigin ? target.tls : { ca: target.tls.ca, skipVerify: false, clientCerts: [] };
    const proxy = target.proxy !== undefined ? { proxy: target.proxy } : {};
    let res;
    if (auth?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identityToken, client_id: 'berth', ...(service && { service }) });
      form.set('scope', scopes.join(' '));
      res = await this.transport.request({
        method: 'POST', url: realm, commonHeaders, headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(), tls, timeoutMs: this.timeoutMs, maxRedirects: 3, ...proxy,
      });
    } else {
      const url = new URL(realm);
      if (service) url.searchParams.set('service', service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      const basic = basicCredentials(auth);
      const headers = basic === undefined ? {} : { authorization: `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}` };
      res = await this.transport.request({ method: 'GET', url, commonHeaders, headers, tls, timeoutMs: this.timeoutMs, maxRedirects: 3, ...proxy });
    }

    const status = res.statusCode ?? 0;
    const body = (
      await readBody(res, MAX_TOKEN_RESPONSE_BYTES, (size) => new BerthError('Unavailable', `registry ${target.registry}: token server ${realm.origin} sent ${size} bytes, more than a token response may hold`))
    ).toString('utf8');
    if (status === 401 || status === 403) {
      throw new BerthError('Unauthenticated', `registry ${target.registry} (token server ${realm.origin}) refused the credentials for ${target.repository} (HTTP ${status}); check the pull secret / auth for this registry`, {
        context: { registry: target.registry, repository: target.repository, realm: realm.href },
      });
    }
    if (status !== 200) {
      throw new BerthError('Unavailable', `registry ${target.registry}: token server ${realm.origin} answered HTTP ${status}; try again later`, {
        context: { registry: target.registry, realm: realm.href, status },
      });
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      throw new BerthError('Unavailable', `registry ${target.registry}: token server ${realm.origin} sent a response that is not JSON`);
    }
    const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new BerthError('Unavailable', `registry ${target.registry}: token server ${realm.origin} sent no token`);
    }
    const lifetime = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    return { token, expiresAt: Date.now() + lifetime * 1000 - EXPIRY_MARGIN_MS };
  }
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolvePromise, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolvePromise, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function parseRealm(realm: string, target: AuthTarget): URL {
  try {
    const url = new URL(realm);
    if (url.protocol === 'https:' || url.protocol === 'http:') return url;
  } catch {
    // reported below with the registry's name
  }
  throw new BerthError('Unavailable', `registry ${target.registry} names an invalid token realm ${JSON.stringify(realm)}`);
}

/** Username and password from either form the CRI's AuthConfig carries. */
function basicCredentials(auth: RegistryAuth | undefined): { username: string; password: string } | undefined {
  if (auth === undefined) return undefined;
  if (auth.username) return { username: auth.username, password: auth.password ?? '' };
  if (auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new BerthError('InvalidArgument', 'registry auth: the "auth" field is not base64 of "user:password"; fix the pull secret');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

function credentialKey(auth: RegistryAuth | undefined): string {
  if (auth === undefined) return 'anonymous';
  return createHash('sha256').update(JSON.stringify([auth.username, auth.password, auth.auth, auth.identityToken])).digest('hex');
}
