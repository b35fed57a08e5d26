import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import transport, { type SpdyConnection, type SpdyStream } from 'spdy-transport';
import { ACCEPTED_PROTOCOLS_HEADER, headerList, negotiate, STREAM_PROTOCOL_HEADER } from './protocols.js';

/** How long the server waits, after a stream is closed, for the client to close the connection itself. */
const CLOSE_GRACE_MS = 5_000;

export interface SpdySession {
  conn: SpdyConnection;
  protocol: string;
  /** Sends GOAWAY and closes the socket once the client had time to read what was sent. */
  close(): void;
  /** close() once these streams have sent all their data and their FIN (or after the grace period). */
  closeAfter(streams: SpdyStream[]): void;
}

/**
 * Answers an `Upgrade: SPDY/3.1` request: picks the first stream protocol the client offers that `supported`
 * has, switches protocols and starts a SPDY/3 server session on the socket. A client offering none gets 403 with
 * the versions berth speaks (apimachinery's handshake), and undefined is returned.
 *
 * SPDY/3 framing, not 3.1: kubelet's and client-go's SPDY (moby/spdystream) ignore WINDOW_UPDATE, so a server
 * that honoured 3.1 flow control would stall after 64 KiB of output.
 */
export function acceptSpdy(req: IncomingMessage, socket: Duplex, head: Buffer, supported: readonly string[]): SpdySession | undefined {
  const offered = headerList(req.headers[STREAM_PROTOCOL_HEADER]);
  const protocol = negotiate(offered, supported);
  if (protocol === undefined) {
    const body = `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}\n`;
    socket.end(
      `HTTP/1.1 403 Forbidden\r\n${ACCEPTED_PROTOCOLS_HEADER}: ${supported.join(', ')}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    return undefined;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
  if (head.length > 0) socket.unshift(head);
  const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: true });
  acceptStreamsWithoutHttpHeaders(conn);
  conn.start(3);
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    conn.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  };
  return {
    conn,
    protocol,
    close,
    closeAfter: (streams) => {
      const grace = setTimeout(close, CLOSE_GRACE_MS);
      grace.unref();
      Promise.allSettled(streams.map((s) => finished(s, { readable: false }))).then(() => {
        clearTimeout(grace);
        close();
      }, close);
    },
  };
}

type HeaderParser = { parseKVs(buffer: unknown, callback: (err: Error | null, headers?: Record<string, string>) => void): void };

/**
 * spdy-transport was written for HTTP over SPDY and refuses a SYN_STREAM without `:method` and `:path`; client-go's
 * SPDY (moby/spdystream) sends only the stream's own headers (`streamtype`, `port`, `requestid`). This connection's
 * header parser fills the two in, so such streams are accepted. It reaches into the parser of spdy-transport
 * 3.0.0 (the last release, pinned by the lock file); the crictl e2e test fails if that ever changes.
 */
function acceptStreamsWithoutHttpHeaders(conn: SpdyConnection): void {
  const parser = (conn as unknown as { _spdyState: { parser: HeaderParser } })._spdyState.parser;
  const parseKVs = parser.parseKVs.bind(parser);
  parser.parseKVs = (buffer, callback) =>
    parseKVs(buffer, (err, headers) => {
      if (!err && headers !== undefined) {
        headers[':method'] ??= 'POST';
        headers[':path'] ??= '/';
      }
      callback(err, headers);
    });
}

/**
 * Accepts every stream the client opens (SYN_REPLY) and hands it to `onStream`; a stream the handler refuses
 * (returns false) is reset. Errors on single streams are the client's business and only end that stream.
 */
export function acceptStreams(conn: SpdyConnection, onStream: (stream: SpdyStream) => boolean): void {
  conn.on('stream', (stream) => {
    stream.on('error', () => stream.destroy());
    if (!onStream(stream)) {
      stream.abort();
      return;
    }
    stream.respond(200, {});
  });
}
