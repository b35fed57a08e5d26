/** The part of spdy-transport (which ships no types) that berth uses: a SPDY/3 session over a socket. */
declare module 'spdy-transport' {
  import type { EventEmitter } from 'node:events';
  import type { Duplex } from 'node:stream';

  export interface SpdyStream extends Duplex {
    readonly id: number;
    /** Header names are lower case, as SPDY sends them. */
    readonly headers: Record<string, string>;
    respond(status: number, headers: Record<string, string>, callback?: (err?: Error) => void): void;
    /** Resets the stream (RST_STREAM); a client stream's reply arrives as the 'response' event. */
    abort(callback?: () => void): void;
  }

  export interface SpdyConnection extends EventEmitter {
    /** Sets the SPDY version (3 here) instead of learning it from the peer's first frame. */
    start(version: number): void;
    /** Sends GOAWAY; 'close' follows once the socket is closed. */
    end(callback?: () => void): void;
    request(
      options: { method: string; path: string; host?: string; headers: Record<string, string>; writable?: boolean; readable?: boolean },
      callback: (err: Error | null, stream: SpdyStream) => void,
    ): SpdyStream;
    on(event: 'stream', listener: (stream: SpdyStream) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'close', listener: () => void): this;
  }

  export const connection: {
    create(socket: Duplex, options: { protocol: 'spdy'; isServer: boolean; maxStreams?: number; headerCompression?: boolean }): SpdyConnection;
  };
}
