import { createServer, type Server } from 'node:http';
import { BerthError } from '../errors/errors.js';
import type { Logger } from '../logging/logger.js';

export interface MetricsServer {
  /** host:port actually bound (the port is resolved when the config said 0). */
  readonly address: string;
  close(): Promise<void>;
}

/** "127.0.0.1:9100", "[::1]:9100", ":9100" (all addresses). */
function splitHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host: host === '' ? '::' : host, port: Number(address.slice(at + 1)) };
}

/** Serves `render()` as Prometheus text at GET /metrics on `[metrics] address`. */
export function serveMetrics(address: string, render: () => string, logger: Logger): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('berth serves metrics at GET /metrics\n');
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (err) {
      logger.error({ err }, 'rendering metrics failed');
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`rendering metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
  });
  const { host, port } = splitHostPort(address);
  return new Promise((resolve, reject) => {
    server.once('error', (err) =>
      reject(new BerthError('Unavailable', `cannot serve metrics on [metrics] address ${address}: ${err.message}; choose a free host:port or "" to turn metrics off`)),
    );
    server.listen(port, host, () => {
      const bound = server.address();
      const actual = typeof bound === 'object' && bound !== null ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : address;
      resolve({
        address: actual,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
