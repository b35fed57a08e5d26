import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { BerthError } from '../errors/errors.js';

/**
 * HTTP proxies for registry traffic, since node:http has none: the `proxy` of a hosts.toml host, else
 * HTTPS_PROXY / HTTP_PROXY with NO_PROXY as Go's net/http reads them (nodes behind a corporate proxy set these in
 * berthd's environment, as they do for containerd). Plain-HTTP requests go to the proxy with an absolute URL;
 * HTTPS goes through a CONNECT tunnel, with TLS to the registry inside it.
 */
export function proxyFor(target: URL, configured: string | undefined, env: NodeJS.ProcessEnv): URL | undefined {
  if (configured !== undefined) return new URL(configured);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // As in Go: loopback is never proxied by the environment.
  if (host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::1') return undefined;
  const raw = target.protocol === 'https:' ? (env.HTTPS_PROXY ?? env.https_proxy) : (env.HTTP_PROXY ?? env.http_proxy);
  if (!raw || bypassed(target, env.NO_PROXY ?? env.no_proxy ?? '')) return undefined;
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new BerthError('FailedPrecondition', `the proxy ${JSON.stringify(raw)} in berthd's environment is not a URL; fix HTTPS_PROXY / HTTP_PROXY`);
  }
}

/** NO_PROXY: `*`, or hosts and domains (`.example.com` or `example.com` match subdomains too), with optional port. */
function bypassed(target: URL, noProxy: string): boolean {
  const host = target.hostname.toLowerCase();
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter(Boolean)
    .some((entry) => {
      if (entry === '*') return true;
      const colon = entry.lastIndexOf(':');
      const hasPort = colon > entry.lastIndexOf(']');
      const name = (hasPort ? entry.slice(0, colon) : entry).replace(/^\./, '');
      if (hasPort && entry.slice(colon + 1) !== port) return false;
      return host === name || host.endsWith(`.${name}`);
    });
}

export function proxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '') return undefined;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

/** An https.Agent whose connections are CONNECT tunnels through `proxy`. */
export class TunnelingAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const done = (callback ?? (() => undefined)) as (err: Error | null, stream?: Duplex) => void;
    const authority = `${options.host}:${options.port}`;
    const proxyAuth = proxyAuthorization(this.proxy);
    const connect = (this.proxy.protocol === 'https:' ? https : http).request({
      host: this.proxy.hostname,
      port: this.proxy.port || (this.proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...(proxyAuth && { 'proxy-authorization': proxyAuth }) },
      agent: false,
    });
    connect.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        done(new Error(`proxy ${this.proxy.host} refused to tunnel to ${authority} (HTTP ${res.statusCode})`), socket);
        return;
      }
      done(null, tls.connect({ ...(options as tls.ConnectionOptions), socket }));
    });
    connect.once('error', (err) => done(new Error(`proxy ${this.proxy.host} is unreachable: ${err.message}`)));
    connect.end();
    return undefined;
  }
}
