/**
 * The berth shim protocol: newline-delimited JSON over the unix socket `<bundle>/shim.sock`.
 * This file is the whole contract between berthd and berth-shim (docs/ARCHITECTURE.md "Shim protocol" describes
 * it in prose); the daemon may import it and shim/client.ts, nothing else from shim/.
 *
 * Frames (one JSON object per line, UTF-8, no embedded newlines):
 *   client → shim  {"id": <uint>, "method": <Method>, "params": {...}}
 *   shim → client  {"id": <same>, "result": {...}}  |  {"id": <same>, "error": {"code": <ShimErrorCode>, "message": "..."}}
 *   shim → client  {"event": <EventName>, "data": {...}}      (unsolicited, to every connection that said hello)
 */

/** Bumped on any incompatible change; a shim refuses a hello whose version it does not speak. */
export const PROTOCOL_VERSION = 1;

/** A frame longer than this is a protocol violation (exec output of 16 MiB base64-encodes to ~22 MiB). */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;

/** Combined stdout+stderr bytes an exec keeps; the rest is read and dropped, and the result says so. */
export const EXEC_OUTPUT_CAP_BYTES = 16 * 1024 * 1024;

/** Stable error codes; callers branch on these, never on message text. */
export type ShimErrorCode =
  | 'InvalidArgument'
  | 'NotFound'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'Unsupported'
  | 'RuntimeFailed'
  | 'ProtocolError'
  | 'Unavailable'
  | 'Internal';

export interface ErrorBody {
  code: ShimErrorCode;
  message: string;
}

/** Life cycle of the one container a shim owns. */
export type ContainerStatus = 'unknown' | 'created' | 'running' | 'stopped' | 'deleted';

/** Why the container's init exited, in kubelet's vocabulary. */
export type ExitReason = 'Completed' | 'Error' | 'OOMKilled';

/** Written to `<bundle>/exit.json` (atomically, fsync'd) before any client is told of the exit. */
export interface ExitStatus {
  pid: number;
  /** WEXITSTATUS, or 128 + signal number when the process was killed by a signal. */
  exitCode: number;
  /** Set when the process died of a signal. */
  signal?: number;
  /** Nanoseconds since the Unix epoch, as a decimal string (JSON numbers cannot hold it exactly). */
  exitedAtNs: string;
  /** RFC 3339 with nanoseconds, UTC: the same instant as exitedAtNs. */
  exitedAt: string;
  reason: ExitReason;
  oomKilled: boolean;
}

export interface RuntimeOptions {
  /** The OCI runtime binary (runc or crun): a name looked up in PATH or an absolute path. */
  binary: string;
  /** Global flags placed before the sub-command, e.g. ["--systemd-cgroup"]. */
  args: string[];
  /** The runtime's --root; berth uses `<state>/runc/<namespace>`. */
  root: string;
}

export interface CreateParams {
  /** `<state>/<namespace>/<id>`: holds config.json and the mounted rootfs. */
  bundle: string;
  id: string;
  namespace: string;
  runtime: RuntimeOptions;
  /** CRI log file; empty string means the container's output is read and discarded. */
  logPath: string;
  /** Keep a pipe open to the container's stdin (CRI `stdin: true`). */
  stdin: boolean;
  /** The config.json asks for a terminal (process.terminal): runc hands the shim the pty master. */
  tty: boolean;
}

export interface HelloResult {
  version: number;
  shimPid: number;
  /** Null until a create has told the shim its bundle (a spare shim). */
  bundle: string | null;
  id: string | null;
}

export interface StateResult {
  id: string | null;
  namespace: string | null;
  bundle: string | null;
  status: ContainerStatus;
  /** The container's init pid on the host, 0 before create. */
  pid: number;
  shimPid: number;
  /** Nanoseconds since the epoch as a decimal string; null before start. */
  startedAtNs: string | null;
  exit: ExitStatus | null;
}

export interface CreateResult {
  pid: number;
}

export interface StartResult {
  pid: number;
  startedAtNs: string;
}

export interface KillParams {
  /** Signal number or name ("SIGTERM", "KILL", 15). */
  signal: number | string;
  /** Signal every process of the container, not only its init (runc kill --all). */
  all: boolean;
  /** Signal this streaming exec's process instead (until the shim has reaped it; `all` is ignored). */
  execId?: string;
}

/** An OCI runtime-spec `process` object (args, env, cwd, user, ...), passed to `runc exec --process`. */
export type OciProcess = Record<string, unknown> & { args: string[] };

export interface ExecParams {
  process: OciProcess;
  /** Kill the exec process after this many milliseconds; 0 means no timeout. */
  timeoutMs: number;
}

export interface ExecStartParams {
  /** Chosen by the client; names the exec in input, resize and its events. */
  execId: string;
  process: OciProcess;
  stdin: boolean;
  tty: boolean;
}

export interface ExecResult {
  exitCode: number;
  /** Base64 of what the process wrote to stdout (up to the shared cap). */
  stdout: string;
  stderr: string;
  /** The output cap was reached; later output was read and dropped. */
  truncated: boolean;
  /** The timeout fired and the process was killed. */
  timedOut: boolean;
}

/** An OCI runtime-spec `linux.resources` object, passed to `runc update --resources`. */
export type OciResources = Record<string, unknown>;

export interface UpdateParams {
  resources: OciResources;
}

export interface StatsResult {
  /** When the counters were read, ns since the epoch as a decimal string. */
  timestampNs: string;
  /** Cumulative CPU time, ns, as a decimal string. */
  cpuUsageNs: string;
  memoryUsageBytes: number;
  /** usage minus inactive file pages: what kubelet evicts on. */
  memoryWorkingSetBytes: number;
  memoryRssBytes: number;
  pids: number;
}

export interface WaitResult {
  exit: ExitStatus;
}

export interface DeleteResult {
  /** The final status (null when the container never started or never exited before a forced delete). */
  exit: ExitStatus | null;
}

export interface DeleteParams {
  /** Kill a still-running container first (runc delete --force). */
  force: boolean;
}

export interface InputParams {
  /** Base64 bytes for the container's stdin, or, with execId, for that exec's. */
  data: string;
  execId?: string;
  /** Close stdin after the data (CRI stdinOnce); a terminal gets ^D instead. */
  close: boolean;
}

export interface ResizeParams {
  /** Resize this exec's terminal instead of the container's. */
  execId?: string;
  width: number;
  height: number;
}

export interface EmptyResult {
  ok: true;
}

/** Every request, its parameters and its result. */
export interface Methods {
  hello: { params: { version: number }; result: HelloResult };
  create: { params: CreateParams; result: CreateResult };
  state: { params: Record<string, never>; result: StateResult };
  start: { params: Record<string, never>; result: StartResult };
  kill: { params: KillParams; result: EmptyResult };
  exec: { params: ExecParams; result: ExecResult };
  execStart: { params: ExecStartParams; result: { pid: number } };
  update: { params: UpdateParams; result: EmptyResult };
  stats: { params: Record<string, never>; result: StatsResult };
  reopenLog: { params: Record<string, never>; result: EmptyResult };
  attach: { params: Record<string, never>; result: EmptyResult };
  detach: { params: Record<string, never>; result: EmptyResult };
  input: { params: InputParams; result: EmptyResult };
  resize: { params: ResizeParams; result: EmptyResult };
  wait: { params: Record<string, never>; result: WaitResult };
  delete: { params: DeleteParams; result: DeleteResult };
  shutdown: { params: Record<string, never>; result: EmptyResult };
}

export type Method = keyof Methods;

export const METHODS: readonly Method[] = [
  'hello', 'create', 'state', 'start', 'kill', 'exec', 'execStart', 'update', 'stats', 'reopenLog', 'attach', 'detach', 'input', 'resize',
  'wait', 'delete', 'shutdown',
];

/** Server → client events. */
export interface Events {
  /** The container's init exited; exit.json is already on disk. */
  exit: { id: string; exit: ExitStatus };
  /**
   * Output, base64: the container's to connections that sent attach, an exec's (with execId) to the connection
   * that sent its execStart. A terminal's output is all 'stdout'.
   */
  output: { id: string; execId?: string; stream: 'stdout' | 'stderr'; data: string };
  /** A streaming exec exited (to the connection that started it), after its output. */
  execExit: { id: string; execId: string; exitCode: number };
  /** Output was dropped for this connection because it read too slowly; the CRI log still has it. */
  outputDropped: { id: string; execId?: string; bytes: number };
}

export type EventName = keyof Events;

export interface RequestFrame {
  id: number;
  method: Method;
  params: Record<string, unknown>;
}

export type ResponseFrame =
  | { id: number; result: unknown }
  | { id: number; error: ErrorBody };

export interface EventFrame {
  event: EventName;
  data: unknown;
}

export function encodeFrame(frame: RequestFrame | ResponseFrame | EventFrame): string {
  return `${JSON.stringify(frame)}\n`;
}

/**
 * Splits a byte stream into frames. Bytes are kept as Buffers until a newline arrives so a multi-byte
 * character split across chunks is decoded whole; a frame over `maxBytes` is an error, never buffered on.
 */
export class FrameReader {
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number = MAX_FRAME_BYTES) {}

  /** Returns the complete frames in `chunk`, parsed; throws on an oversized or non-JSON frame. */
  push(chunk: Buffer): unknown[] {
    const frames: unknown[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      this.ensureRoom(piece.length);
      const line = this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]);
      this.parts = [];
      this.size = 0;
      start = nl + 1;
      if (line.length > 0) frames.push(JSON.parse(line.toString('utf8')));
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.ensureRoom(rest.length);
      this.parts.push(Buffer.from(rest));
      this.size += rest.length;
    }
    return frames;
  }

  private ensureRoom(n: number): void {
    if (this.size + n > this.maxBytes) throw new Error(`shim protocol frame exceeds ${this.maxBytes} bytes`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates the envelope of a client frame; parameter validation is the handler's job. */
export function parseRequest(v: unknown): RequestFrame {
  if (!isObject(v) || typeof v.id !== 'number' || !Number.isSafeInteger(v.id) || typeof v.method !== 'string') {
    throw new Error('request frame needs an integer "id" and a string "method"');
  }
  if (!(METHODS as readonly string[]).includes(v.method)) throw new Error(`unknown method "${v.method}"`);
  const params = v.params === undefined ? {} : v.params;
  if (!isObject(params)) throw new Error(`"params" of ${v.method} must be an object`);
  return { id: v.id, method: v.method as Method, params };
}

/** Validates the envelope of a shim frame: a response (with id) or an event. */
export function parseServerFrame(v: unknown): ResponseFrame | EventFrame {
  if (!isObject(v)) throw new Error('shim frame is not an object');
  if (typeof v.event === 'string') return { event: v.event as EventName, data: v.data };
  if (typeof v.id !== 'number') throw new Error('shim frame has neither "id" nor "event"');
  if (isObject(v.error)) {
    return { id: v.id, error: { code: String(v.error.code) as ShimErrorCode, message: String(v.error.message) } };
  }
  return { id: v.id, result: v.result };
}

/** The documented files of a bundle that the shim writes; the daemon reads them only when the shim is gone. */
export interface BundlePaths {
  socket: string;
  /** The shim's pid, decimal, written when the shim adopts the bundle. */
  shimPid: string;
  /** The container init's host pid, written by the runtime (--pid-file). */
  initPid: string;
  /** ExitStatus as JSON, written before the exit is reported. */
  exitStatus: string;
  /** The runtime's own JSON log (runc --log ... --log-format json); the last error explains a failed create. */
  runtimeLog: string;
  /** The shim's stdout/stderr. */
  shimLog: string;
}

export function bundlePaths(bundle: string): BundlePaths {
  const at = (name: string): string => `${bundle.replace(/\/+$/, '')}/${name}`;
  return {
    socket: at('shim.sock'),
    shimPid: at('shim.pid'),
    initPid: at('init.pid'),
    exitStatus: at('exit.json'),
    runtimeLog: at('runtime-log.json'),
    shimLog: at('shim.log'),
  };
}
