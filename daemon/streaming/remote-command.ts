import type { Readable, Writable } from 'node:stream';
import type { Logger } from '../logging/logger.js';
import { exitCodeStatus, internalErrorStatus, successStatus, type KubeStatus } from './status.js';

export interface TerminalSize {
  width: number;
  height: number;
}

export type OutputStream = 'stdout' | 'stderr';
export type OutputSink = (stream: OutputStream, data: Buffer) => void;

/** What an Exec or Attach RPC validated and stored under its token. */
export interface RemoteCommandRequest {
  kind: 'exec' | 'attach';
  containerId: string;
  /** The command (exec); empty for attach. */
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** A process the client is connected to: an exec, or the container's init for attach. */
export interface RunningProcess {
  write(data: Buffer): Promise<void>;
  /** The client closed its stdin. */
  closeStdin(): Promise<void>;
  resize(size: TerminalSize): Promise<void>;
  /** The exit code, once the process has exited and its output has been delivered to the sink. */
  readonly exited: Promise<number>;
  /** The session is over (or the client went away): kill an exec still running, detach, drop the shim connection. */
  release(): void;
}

/** Where exec and attach processes come from (the container's shim, in berthd). */
export interface RemoteCommandRuntime {
  start(request: RemoteCommandRequest, sink: OutputSink): Promise<RunningProcess>;
}

/** One exec or attach client's streams, whatever carries them (SPDY streams or WebSocket channels). */
export interface ClientStreams {
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  /** The terminal sizes the client sends, JSON objects one after another (tty, protocol v3+). */
  resize: Readable | null;
  /** Ends stdout/stderr, sends the final status the way the negotiated protocol carries it, closes the connection. */
  finish(status: KubeStatus): void;
  /** Aborted when the client's connection is gone. */
  readonly gone: AbortSignal;
}

const MIB = 1024 * 1024;
/**
 * Output berth holds for one client that reads slower than the process writes. The shim protocol has no flow
 * control, so beyond this the session ends (and an exec is killed) rather than the daemon's memory growing.
 */
const MAX_BUFFERED_OUTPUT = 16 * MIB;
/** Input chunks on their way to the shim before the client's stdin is paused. */
const MAX_QUEUED_INPUTS = 64;

/**
 * Runs one exec or attach between a connected client and the runtime: stdin and resizes in, stdout and stderr
 * out, and at the end the exit status on the error stream. When the client goes away first, the process is
 * released at once (an exec is killed, an attach detached) so nothing is left behind.
 */
export async function runRemoteCommand(request: RemoteCommandRequest, io: ClientStreams, runtime: RemoteCommandRuntime, logger: Logger): Promise<void> {
  let tooSlow: () => void = () => undefined;
  const overflowed = new Promise<'slow'>((resolve) => (tooSlow = () => resolve('slow')));
  const sink: OutputSink = (stream, data) => {
    // A terminal's output is all stdout; a stream the client did not ask for has no reader.
    const out = stream === 'stderr' && !request.tty ? io.stderr : io.stdout;
    if (out === null || out.writableEnded || out.destroyed) return;
    out.write(data);
    if (out.writableLength > MAX_BUFFERED_OUTPUT) tooSlow();
  };
  let proc: RunningProcess;
  try {
    proc = await runtime.start(request, sink);
  } catch (err) {
    io.finish(internalErrorStatus(err instanceof Error ? err.message : String(err)));
    return;
  }
  // Input calls are chained so the bytes reach the process in the order the client sent them; a client that
  // sends faster than the shim takes input is paused instead of queued without bound.
  let input = Promise.resolve();
  let queued = 0;
  const send = (what: string, call: () => Promise<void>): void => {
    queued++;
    if (queued > MAX_QUEUED_INPUTS) io.stdin?.pause();
    input = input
      .then(call)
      .catch((err: unknown) => logger.debug({ err, container: request.containerId }, `${request.kind}: ${what} failed`))
      .finally(() => {
        if (--queued === 0) io.stdin?.resume();
      });
  };
  io.stdin?.on('data', (chunk: Buffer) => send('stdin', () => proc.write(chunk)));
  io.stdin?.on('end', () => send('closing stdin', () => proc.closeStdin()));
  if (io.resize !== null) {
    const sizes = new JsonObjectSplitter();
    io.resize.on('data', (chunk: Buffer) => {
      for (const text of sizes.push(chunk)) {
        const size = parseSize(text);
        if (size !== undefined) send('resize', () => proc.resize(size));
      }
    });
  }
  const gone = new Promise<'gone'>((resolve) => {
    if (io.gone.aborted) resolve('gone');
    io.gone.addEventListener('abort', () => resolve('gone'), { once: true });
  });
  let outcome: number | 'gone' | 'slow' | Error;
  try {
    outcome = await Promise.race([proc.exited, gone, overflowed]);
  } catch (err) {
    outcome = err instanceof Error ? err : new Error(String(err));
  } finally {
    proc.release();
  }
  if (outcome === 'gone') {
    logger.debug({ container: request.containerId }, `${request.kind}: the client went away`);
    return;
  }
  if (outcome === 'slow') {
    io.finish(internalErrorStatus(`${request.kind} in container ${request.containerId}: the client read its output too slowly (${MAX_BUFFERED_OUTPUT / MIB} MiB waiting); the process was stopped`));
  } else if (outcome instanceof Error) io.finish(internalErrorStatus(`${request.kind} in container ${request.containerId}: ${outcome.message}`));
  else if (outcome === 0 || request.kind === 'attach') io.finish(successStatus());
  else io.finish(exitCodeStatus(outcome, request.cmd));
}

function parseSize(text: string): TerminalSize | undefined {
  try {
    const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
    if (typeof v.Width === 'number' && typeof v.Height === 'number' && v.Width >= 0 && v.Height >= 0) return { width: v.Width, height: v.Height };
  } catch {
    // A malformed size is the client's bug; the session goes on with the old size.
  }
  return undefined;
}

/** Splits a byte stream of concatenated JSON objects (Go's json.Encoder output, newline or not) into texts. */
export class JsonObjectSplitter {
  private pending = '';
  private static readonly MAX = 4096;

  push(chunk: Buffer): string[] {
    this.pending += chunk.toString('utf8');
    const out: string[] = [];
    let depth = 0;
    let start = -1;
    let inString = false;
    let consumed = 0;
    for (let i = 0; i < this.pending.length; i++) {
      const ch = this.pending[i];
      if (inString) {
        if (ch === '\\') i++;
        else if (ch === '"') inString = false;
      } else if (ch === '"') {
        inString = true;
      } else if (ch === '{') {
        if (depth++ === 0) start = i;
      } else if (ch === '}' && depth > 0 && --depth === 0) {
        out.push(this.pending.slice(start, i + 1));
        consumed = i + 1;
      }
    }
    this.pending = this.pending.slice(consumed);
    // A client that never closes its object gets its garbage dropped, not buffered without end.
    if (this.pending.length > JsonObjectSplitter.MAX) this.pending = '';
    return out;
  }
}
