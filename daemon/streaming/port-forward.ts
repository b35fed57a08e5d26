import type { Duplex } from 'node:stream';
import type { SpdyStream } from 'spdy-transport';
import type { WebSocket } from 'ws';
import type { Logger } from '../logging/logger.js';
import { channelWriter } from './remote-command-websocket.js';
import { acceptStreams, type SpdySession } from './spdy-session.js';

/** What a PortForward RPC validated and stored under its token. */
export interface PortForwardRequest {
  podId: string;
  /** Ports named in the RPC; WebSocket clients that name none in the URL get these. */
  ports: number[];
}

/** Opens a TCP connection to localhost:`port` inside the pod's network namespace. */
export type PortDialer = (podId: string, port: number) => Promise<Duplex>;

export interface PortForwardDeps {
  dial: PortDialer;
  logger: Logger;
  creationTimeoutMs: number;
  /** Aborted when the client's connection is gone; every pod connection is closed then. */
  gone: AbortSignal;
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Pipes a client stream and a pod connection both ways; half-closes follow each other, errors end both. */
function splice(client: Duplex, pod: Duplex, onError: (err: Error) => void): void {
  client.pipe(pod);
  pod.pipe(client);
  pod.on('error', (err) => {
    onError(err);
    client.end();
  });
  client.on('error', () => pod.destroy());
  client.on('close', () => pod.destroy());
}

/**
 * Port-forward over SPDY (portforward.k8s.io): for every connection the client wants, it opens an `error` and a
 * `data` stream carrying the same `requestID` and `port` headers. Once both are there, berth dials the port in
 * the pod and splices it onto the data stream; a failure is written as text on the error stream. A pair left
 * incomplete for `creationTimeoutMs` is reset. Any number of pairs, concurrently, on one connection.
 */
export function servePortForwardSpdy(session: SpdySession, request: PortForwardRequest, deps: PortForwardDeps): void {
  const log = deps.logger.child({ pod: request.podId });
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream; timer: NodeJS.Timeout }>();
  const pods = new Set<Duplex>();
  deps.gone.addEventListener('abort', () => {
    for (const pod of pods) pod.destroy();
    for (const pair of pairs.values()) clearTimeout(pair.timer);
  }, { once: true });

  acceptStreams(session.conn, (stream) => {
    const type = stream.headers.streamtype;
    const port = parsePort(stream.headers.port);
    if ((type !== 'error' && type !== 'data') || port === undefined) {
      log.info({ streamType: type, port: stream.headers.port }, 'port-forward: stream without a valid type or port; refused');
      return false;
    }
    // Clients before requestID paired streams by id: the data stream follows its error stream.
    const requestId = stream.headers.requestid ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(requestId);
    if (pair === undefined) {
      const timer = setTimeout(() => {
        pairs.delete(requestId);
        log.info({ requestId, port }, 'port-forward: the client opened only one stream of a pair; resetting it');
        pair?.error?.abort();
        pair?.data?.abort();
      }, deps.creationTimeoutMs);
      timer.unref();
      pair = { timer };
      pairs.set(requestId, pair);
    }
    if (pair[type] !== undefined) return false;
    pair[type] = stream;
    if (pair.error !== undefined && pair.data !== undefined) {
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      const { error, data } = pair;
      forward(port, data, error);
    }
    return true;
  });

  const forward = (port: number, data: SpdyStream, error: SpdyStream): void => {
    // Nothing comes from the client on the error stream; reading it lets its FIN arrive.
    error.resume();
    const fail = (err: Error): void => {
      log.debug({ port, err: err.message }, 'port-forward connection failed');
      if (!error.writableEnded) error.end(`error forwarding port ${port} to pod ${request.podId}: ${err.message}`);
    };
    deps.dial(request.podId, port).then(
      (pod) => {
        if (deps.gone.aborted) return pod.destroy();
        pods.add(pod);
        pod.once('close', () => {
          pods.delete(pod);
          if (!error.writableEnded) error.end();
        });
        return splice(data, pod, fail);
      },
      (err: unknown) => {
        fail(err instanceof Error ? err : new Error(String(err)));
        data.end();
      },
    );
  };
}

/**
 * Port-forward over WebSocket: the ports come from the URL (`?port=80&port=443`, else the RPC's), one
 * connection per port dialled at once; port i uses channel 2i for data and 2i+1 for errors, and the first
 * message on each carries the port as two little-endian bytes, as kubelet sends it.
 */
export function servePortForwardWebSocket(ws: WebSocket, url: URL, request: PortForwardRequest, deps: PortForwardDeps): void {
  const log = deps.logger.child({ pod: request.podId });
  const fromUrl = url.searchParams.getAll('port').map((p) => parsePort(p));
  if (fromUrl.some((p) => p === undefined)) {
    ws.close(1008, 'port-forward: every "port" query parameter must be a number from 1 to 65535');
    return;
  }
  const ports = fromUrl.length > 0 ? (fromUrl as number[]) : request.ports;
  if (ports.length === 0 || ports.length > 127) {
    ws.close(1008, 'port-forward: name between 1 and 127 ports (?port=8080)');
    return;
  }
  // Per data channel, the pod connection once dialled; client bytes that arrive earlier wait on the promise.
  const pods = new Map<number, Promise<Duplex | undefined>>();
  deps.gone.addEventListener('abort', () => {
    for (const pod of pods.values()) void pod.then((p) => p?.destroy());
  }, { once: true });
  ports.forEach((port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    const data = channelWriter(ws, 2 * i);
    const error = channelWriter(ws, 2 * i + 1);
    data.write(portBytes);
    error.write(portBytes);
    const dialled = deps.dial(request.podId, port).then(
      (pod) => {
        if (deps.gone.aborted) return void pod.destroy();
        pod.pipe(data);
        pod.on('error', (err) => error.write(`error forwarding port ${port} to pod ${request.podId}: ${err.message}`));
        pod.once('close', () => pods.delete(2 * i));
        return pod;
      },
      (err: unknown) => {
        log.debug({ port, err }, 'port-forward dial failed');
        error.write(`error forwarding port ${port} to pod ${request.podId}: ${err instanceof Error ? err.message : String(err)}`);
        pods.delete(2 * i);
        return undefined;
      },
    );
    pods.set(2 * i, dialled);
  });
  ws.on('message', (msg: Buffer, isBinary: boolean) => {
    if (!isBinary || msg.length === 0) return;
    const payload = msg.subarray(1);
    void pods.get(msg[0]!)?.then((pod) => pod?.write(payload));
  });
}
