import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { BerthError } from '../errors/errors.js';
import type { Logger } from '../logging/logger.js';
import { servePortForwardSpdy, servePortForwardWebSocket, type PortDialer, type PortForwardRequest } from './port-forward.js';
import { negotiate, PORTFORWARD_SPDY, PORTFORWARD_WEBSOCKET, REMOTECOMMAND_SPDY, REMOTECOMMAND_WEBSOCKET, headerList } from './protocols.js';
import type { RemoteCommandRequest, RemoteCommandRuntime } from './remote-command.js';
import { serveRemoteCommandSpdy } from './remote-command-spdy.js';
import { serveRemoteCommandWebSocket } from './remote-command-websocket.js';
import { acceptSpdy } from './spdy-session.js';
import { TokenStore } from './token-store.js';

export interface StreamingServerOptions {
  /** Listen address; "" or 0.0.0.0/:: listen everywhere (only when the operator configures it). */
  address: string;
  /** 0 picks a free port. */
  port: number;
  /** PEM files; both set serves HTTPS (the URLs then say https). */
  tls?: { certFile: string; keyFile: string };
  tokenTtlMs: number;
  /** A connection with no traffic either way for this long is closed (0: never). */
  idleTimeoutMs: number;
  /** How long a SPDY client may take to open the streams of a request. */
  creationTimeoutMs: number;
  runtime: RemoteCommandRuntime;
  dial: PortDialer;
  /** Frees what the runtime and dialer hold (the dial thread), after the last connection is closed. */
  release?: () => Promise<void>;
  logger: Logger;
}

type Pending = RemoteCommandRequest | ({ kind: 'portforward' } & PortForwardRequest);
type Kind = Pending['kind'];

/** Requests handed out and not yet connected; kubelet's own server caps these at 1000 too. */
const MAX_PENDING = 1000;
const PATH = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/;

/**
 * berth's streaming server: the Exec, Attach and PortForward RPCs store their validated request under a
 * single-use token and return a URL here; the client (kubelet's proxy, or crictl) upgrades an HTTP request on
 * that URL to SPDY/3.1 or WebSocket and the session runs over it. Unknown, used or expired tokens get 404. Every
 * connection is tracked so idle ones time out and close() leaves none behind.
 */
export class StreamingServer {
  private readonly tokens: TokenStore<Pending>;
  private readonly sockets = new Set<Socket>();
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, handleProtocols: (offered) => [...offered][0] ?? false });
  private baseUrl = '';

  private constructor(
    private readonly server: http.Server,
    private readonly options: StreamingServerOptions,
  ) {
    this.tokens = new TokenStore({ ttlMs: options.tokenTtlMs, maxPending: MAX_PENDING });
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.plainRequest(req, res));
    // Node types it as a Duplex; it is the connection's net.Socket (a TLSSocket with TLS).
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket as Socket, head));
  }

  static async start(options: StreamingServerOptions): Promise<StreamingServer> {
    // Bounds on the plain HTTP part only (a slow or silent client before its upgrade); upgraded sockets are exempt.
    const limits = { headersTimeout: 15_000, requestTimeout: 30_000 };
    const server = options.tls === undefined
      ? http.createServer(limits)
      : https.createServer({ ...limits, cert: readFileSync(options.tls.certFile), key: readFileSync(options.tls.keyFile) });
    const streaming = new StreamingServer(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new BerthError('Unavailable', `the streaming server cannot listen on ${options.address || '*'}:${options.port}: ${err.message}; set [cri] stream_server_address/stream_server_port`, { cause: err })),
      );
      server.listen(options.port, options.address === '' ? undefined : options.address, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const scheme = options.tls === undefined ? 'http' : 'https';
    streaming.baseUrl = `${scheme}://${urlHost(options.address)}:${port}`;
    return streaming;
  }

  /** `http://host:port`, as the URLs handed to clients begin. */
  get url(): string {
    return this.baseUrl;
  }

  exec(request: Omit<RemoteCommandRequest, 'kind'>): string {
    return this.issue({ ...request, kind: 'exec' });
  }

  attach(request: Omit<RemoteCommandRequest, 'kind'>): string {
    return this.issue({ ...request, kind: 'attach' });
  }

  portForward(request: PortForwardRequest): string {
    return this.issue({ ...request, kind: 'portforward' });
  }

  /** Stops listening and closes every connection (sessions see their client go away and release their processes). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    await this.options.release?.();
  }

  /** Connections open now (for tests and metrics). */
  get connections(): number {
    return this.sockets.size;
  }

  private issue(request: Pending): string {
    return `${this.baseUrl}/${request.kind}/${this.tokens.put(request)}`;
  }

  /** The request stored under the URL's token, used up; undefined when the path or the token is no good. */
  private claim(req: IncomingMessage): { pending: Pending; url: URL } | undefined {
    const url = new URL(req.url ?? '/', 'http://streaming');
    const match = PATH.exec(url.pathname);
    if (match === null) return undefined;
    const pending = this.tokens.take(match[2]!);
    if (pending === undefined || pending.kind !== (match[1] as Kind)) return undefined;
    return { pending, url };
  }

  private plainRequest(req: IncomingMessage, res: ServerResponse): void {
    const claimed = this.claim(req);
    if (claimed === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 page not found: unknown, used or expired streaming token; ask the CRI for a new URL\n');
      return;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain' }).end('this URL needs an upgrade to SPDY/3.1 or WebSocket (Connection: Upgrade)\n');
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const claimed = this.claim(req);
    if (claimed === undefined) {
      const body = '404 page not found: unknown, used or expired streaming token; ask the CRI for a new URL\n';
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    const { pending, url } = claimed;
    const gone = new AbortController();
    socket.once('close', () => gone.abort());
    const idle = this.options.idleTimeoutMs;
    // Armed after the upgrade: ws clears a socket's timeout when it takes it over.
    const armIdleTimeout = (): void => {
      if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
    };
    const log = this.options.logger.child({ stream: pending.kind });
    const upgradeTo = (req.headers.upgrade ?? '').toLowerCase();
    if (upgradeTo === 'websocket') {
      const supported = pending.kind === 'portforward' ? PORTFORWARD_WEBSOCKET : REMOTECOMMAND_WEBSOCKET;
      const offered = headerList(req.headers['sec-websocket-protocol']);
      const protocol = negotiate(offered.length === 0 ? [''] : offered, supported);
      if (protocol === undefined) {
        const body = `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}\n`;
        socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
        return;
      }
      // The negotiated protocol, not ws's default choice, is the one echoed back.
      req.headers['sec-websocket-protocol'] = protocol === '' ? undefined : protocol;
      this.wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        armIdleTimeout();
        ws.on('error', () => ws.terminate());
        if (pending.kind === 'portforward') {
          servePortForwardWebSocket(ws, url, pending, { dial: this.options.dial, logger: log, creationTimeoutMs: this.options.creationTimeoutMs, gone: gone.signal });
        } else {
          serveRemoteCommandWebSocket(ws, protocol, pending, { runtime: this.options.runtime, logger: log, gone: gone.signal });
        }
      });
      return;
    }
    if (upgradeTo.startsWith('spdy/3')) {
      const session = acceptSpdy(req, socket, head, pending.kind === 'portforward' ? PORTFORWARD_SPDY : REMOTECOMMAND_SPDY);
      if (session === undefined) return;
      armIdleTimeout();
      session.conn.on('error', (err: Error) => log.debug({ err: err.message }, 'SPDY connection error'));
      if (pending.kind === 'portforward') {
        servePortForwardSpdy(session, pending, { dial: this.options.dial, logger: log, creationTimeoutMs: this.options.creationTimeoutMs, gone: gone.signal });
      } else {
        serveRemoteCommandSpdy(session, pending, { runtime: this.options.runtime, logger: log, creationTimeoutMs: this.options.creationTimeoutMs, gone: gone.signal });
      }
      return;
    }
    const body = `unsupported upgrade "${req.headers.upgrade ?? ''}": use SPDY/3.1 or websocket\n`;
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
}

/**
 * The host part of the URLs: the listen address, or, when listening everywhere, the node's first non-loopback
 * IPv4 address so a kubelet elsewhere can reach it (containerd does the same).
 */
function urlHost(address: string): string {
  let host = address;
  if (host === '' || host === '0.0.0.0' || host === '::') {
    const external = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
    host = external?.address ?? '127.0.0.1';
  }
  return host.includes(':') ? `[${host}]` : host;
}
