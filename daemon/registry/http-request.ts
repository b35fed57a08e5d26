import { createHash } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { BerthError } from '../errors/errors.js';
import type { ClientCert } from './hosts-config.js';
import { proxyAuthorization, proxyFor, TunnelingAgent } from './proxy.js';

/**
 * HTTP(S) requests to registries over node:http(s): unlike the built-in fetch, they take per-host CA bundles,
 * client certificates and skip_verify from hosts.toml. Redirects are followed here with the same TLS settings (as
 * containerd does); credentials and configured headers go only to the origin that was asked, never to the storage
 * backend a blob redirect points at.
 */
export interface TlsOptions {
  ca: Buffer[];
  skipVerify: boolean;
  clientCerts: ClientCert[];
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST';
  url: URL;
  /** Sent to `url`'s origin only. */
  headers: OutgoingHttpHeaders;
  /** Sent on every hop (Accept, User-Agent). */
  commonHeaders?: OutgoingHttpHeaders;
  body?: string;
  tls: TlsOptions;
  signal?: AbortSignal;
  /** How long to wait for response headers. */
  timeoutMs: number;
  /** How long a new TCP connection may take. */
  connectTimeoutMs?: number;
  /** Redirects to follow (0 to return a 3xx as is). */
  maxRedirects: number;
  /** The host's configured proxy (hosts.toml); without it the environment decides, per hop. */
  proxy?: string;
}

/** Every registry round trip (each redirect hop too), for debugging pulls without logging in the hot path. */
export interface RegistryRequestEvent {
  method: string;
  url: string;
  status?: number;
  error?: Error;
  durationMs: number;
}
export const registryRequestChannel = diagnostics.channel('berth:registry:request');

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class HttpTransport {
  private readonly agents = new Map<string, http.Agent>();

  /** `env` is where HTTPS_PROXY, HTTP_PROXY and NO_PROXY are read. */
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async request(req: HttpRequest): Promise<IncomingMessage> {
    let url = req.url;
    let headers: OutgoingHttpHeaders = { ...req.commonHeaders, ...req.headers };
    let method = req.method;
    for (let hop = 0; ; hop++) {
      const res = await this.once(method, url, headers, method === req.method ? req.body : undefined, req);
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined || hop >= req.maxRedirects) return res;
      const next = new URL(location, url);
      // Anything but http(s) is not followed; the caller reports the 3xx.
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return res;
      res.resume();
      if (next.origin !== req.url.origin) headers = { ...req.commonHeaders };
      if (res.statusCode === 303) method = method === 'HEAD' ? 'HEAD' : 'GET';
      url = next;
    }
  }

  /** Closes idle keep-alive connections so a stopping daemon (or a test) can exit. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private once(method: string, url: URL, headers: OutgoingHttpHeaders, body: string | undefined, req: HttpRequest): Promise<IncomingMessage> {
    const { signal, timeoutMs, connectTimeoutMs, tls } = req;
    signal?.throwIfAborted();
    const secure = url.protocol === 'https:';
    const proxy = proxyFor(url, req.proxy, this.env);
    let options: http.RequestOptions;
    let lib: typeof http | typeof https;
    if (proxy !== undefined && !secure) {
      // Plain HTTP through a proxy: the request line carries the absolute URL.
      const proxyAuth = proxyAuthorization(proxy);
      lib = proxy.protocol === 'https:' ? https : http;
      options = {
        host: proxy.hostname,
        port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
        path: url.href,
        headers: { ...headers, host: url.host, ...(proxyAuth && { 'proxy-authorization': proxyAuth }) },
        agent: this.agentFor(proxy.protocol === 'https:', tls, undefined),
      };
    } else {
      lib = secure ? https : http;
      options = { headers, agent: this.agentFor(secure, tls, proxy) };
    }
    const started = performance.now();
    const publish = (event: Omit<RegistryRequestEvent, 'method' | 'url' | 'durationMs'>) => {
      if (registryRequestChannel.hasSubscribers) {
        registryRequestChannel.publish({ method, url: url.href, durationMs: performance.now() - started, ...event } satisfies RegistryRequestEvent);
      }
    };
    return new Promise((resolvePromise, reject) => {
      const outgoing = 'path' in options ? lib.request({ ...options, method, signal }) : lib.request(url, { ...options, method, signal });
      const timer = setTimeout(() => {
        outgoing.destroy(new BerthError('DeadlineExceeded', `registry host ${url.host} sent no response within ${timeoutMs / 1000}s`, { context: { url: url.href } }));
      }, timeoutMs);
      if (connectTimeoutMs !== undefined) {
        outgoing.on('socket', (socket) => {
          // A kept-alive socket is already connected; only a new connection can hang in connect.
          if (!socket.connecting) return;
          const dial = setTimeout(() => {
            outgoing.destroy(new BerthError('DeadlineExceeded', `could not connect to registry host ${url.host} within ${connectTimeoutMs / 1000}s (dial_timeout)`, { context: { url: url.href } }));
          }, connectTimeoutMs);
          socket.once('connect', () => clearTimeout(dial));
          socket.once('close', () => clearTimeout(dial));
        });
      }
      outgoing.on('response', (res) => {
        clearTimeout(timer);
        publish({ status: res.statusCode ?? 0 });
        resolvePromise(res);
      });
      outgoing.on('error', (err) => {
        clearTimeout(timer);
        const failure: unknown = signal?.aborted ? signal.reason : err instanceof BerthError ? err : new NetworkError(url, err);
        publish({ error: failure instanceof Error ? failure : err });
        reject(failure);
      });
      outgoing.end(body);
    });
  }

  /** One keep-alive agent per TLS setting and tunnel proxy. */
  private agentFor(secure: boolean, tls: TlsOptions, tunnel: URL | undefined): http.Agent {
    const key = secure ? `https|${tls.skipVerify}|${fingerprint([...tls.ca, ...tls.clientCerts.flatMap((c) => [c.cert, c.key])])}|${tunnel?.href ?? ''}` : 'http';
    let agent = this.agents.get(key);
    if (agent === undefined) {
      const options: https.AgentOptions = {
        keepAlive: true,
        rejectUnauthorized: !tls.skipVerify,
        ...(tls.ca.length > 0 && { ca: [...rootCertificates, ...tls.ca.map((b) => b.toString('utf8'))] }),
        ...(tls.clientCerts.length > 0 && { cert: tls.clientCerts.map((c) => c.cert), key: tls.clientCerts.map((c) => c.key) }),
      };
      agent = !secure ? new http.Agent({ keepAlive: true }) : tunnel ? new TunnelingAgent(tunnel, options) : new https.Agent(options);
      this.agents.set(key, agent);
    }
    return agent;
  }
}

/** A connection-level failure (refused, reset, TLS); the message names the host, the cause keeps the detail. */
export class NetworkError extends BerthError {
  readonly code: string | undefined;

  constructor(url: URL, cause: Error) {
    super('Unavailable', `registry host ${url.host} is unreachable: ${cause.message}`, { cause, context: { url: url.href } });
    this.code = (cause as NodeJS.ErrnoException).code;
  }

  /** The server speaks plain HTTP on a port we tried TLS on. */
  get isPlainHttpAnswer(): boolean {
    return this.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || this.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || /wrong version number|packet length too long/i.test(this.message);
  }
}

function fingerprint(ca: Buffer[]): string {
  const hash = createHash('sha256');
  for (const b of ca) hash.update(b);
  return hash.digest('hex');
}

/** Reads a whole response body, giving up (and closing the connection) once it is known to exceed `max` bytes. */
export async function readBody(res: IncomingMessage, max: number, tooLarge: (bytes: number) => Error): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isSafeInteger(declared) && declared > max) {
    res.destroy();
    throw tooLarge(declared);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res) {
    total += (chunk as Buffer).length;
    if (total > max) throw tooLarge(total);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
