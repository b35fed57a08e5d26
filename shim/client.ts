/**
 * The daemon's handle on a berth-shim: start one detached, reconnect to one after a restart, and call the
 * protocol (shim/protocol.ts) with typed methods. berthd imports this file and shim/protocol.ts only.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isShimError, ShimError } from './errors.js';
import { withShortSocketPath } from './socket-path.js';
import {
  bundlePaths, encodeFrame, FrameReader, parseServerFrame, PROTOCOL_VERSION,
  type CreateParams, type Events, type ExecParams, type ExecStartParams, type ExecResult, type ExitStatus, type HelloResult, type KillParams,
  type Method, type Methods, type OciResources, type StartResult, type StateResult, type StatsResult,
} from './protocol.js';

export { ShimError, isShimError } from './errors.js';
export type { ExecResult, ExecStartParams, ExitStatus, StateResult, StatsResult, StartResult } from './protocol.js';

/** Exec output decoded from the wire. */
export interface ExecOutput extends Omit<ExecResult, 'stdout' | 'stderr'> {
  stdout: Buffer;
  stderr: Buffer;
}

/** Output bytes of the attached container (execId undefined) or of a streaming exec. */
export type OutputListener = (stream: 'stdout' | 'stderr', data: Buffer, execId: string | undefined) => void;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: ShimError) => void;
}

export class ShimClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly exitListeners = new Set<(id: string, exit: ExitStatus) => void>();
  private readonly closeListeners = new Set<() => void>();
  private readonly outputListeners = new Set<OutputListener>();
  private readonly droppedListeners = new Set<(bytes: number, execId: string | undefined) => void>();
  private readonly execExitListeners = new Set<(execId: string, exitCode: number) => void>();
  private closed = false;
  /** Filled by the hello that connect() sends. */
  info: HelloResult = { version: PROTOCOL_VERSION, shimPid: 0, bundle: null, id: null };

  private constructor(private readonly socket: net.Socket, readonly socketPath: string) {
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) this.dispatch(parseServerFrame(f));
      } catch (err) {
        socket.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.handleClose());
  }

  /** Whether the connection has closed (the shim exited or was killed). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Connects to a shim socket and says hello. Fails with ShimError('Unavailable') if nobody listens. */
  static async connect(socketPath: string): Promise<ShimClient> {
    const socket = await withShortSocketPath(socketPath, (usable) =>
      new Promise<net.Socket>((resolve, reject) => {
        const s = net.connect(usable);
        s.once('connect', () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      }),
    ).catch((err: unknown) => {
      throw new ShimError('Unavailable', `cannot connect to berth-shim at ${socketPath}: ${err instanceof Error ? err.message : String(err)}; the shim has exited (read exit.json in its bundle)`, { cause: err });
    });
    const client = new ShimClient(socket, socketPath);
    client.info = await client.call('hello', { version: PROTOCOL_VERSION });
    return client;
  }

  /** Sends one request; resolves with its result or rejects with the shim's ShimError. */
  call<M extends Method>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']> {
    if (this.closed) return Promise.reject(new ShimError('Unavailable', `connection to berth-shim at ${this.socketPath} is closed; reconnect with connectShim`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(encodeFrame({ id, method, params: params as Record<string, unknown> }));
    });
  }

  create(params: CreateParams): Promise<{ pid: number }> {
    return this.call('create', params);
  }

  state(): Promise<StateResult> {
    return this.call('state', {});
  }

  start(): Promise<StartResult> {
    return this.call('start', {});
  }

  /** Signals the container's init (or all its processes), or with `execId` that streaming exec's process. */
  async kill(signal: KillParams['signal'], all = false, execId?: string): Promise<void> {
    await this.call('kill', { signal, all, ...(execId === undefined ? {} : { execId }) });
  }

  /** Runs a process in the container and returns its output (at most 16 MiB of both streams together). */
  async exec(params: ExecParams): Promise<ExecOutput> {
    const r = await this.call('exec', params);
    return { ...r, stdout: Buffer.from(r.stdout, 'base64'), stderr: Buffer.from(r.stderr, 'base64') };
  }

  async update(resources: OciResources): Promise<void> {
    await this.call('update', { resources });
  }

  stats(): Promise<StatsResult> {
    return this.call('stats', {});
  }

  async reopenLog(): Promise<void> {
    await this.call('reopenLog', {});
  }

  /** Streams the container's output from now on to onOutput listeners (until detach or disconnect). */
  async attach(): Promise<void> {
    await this.call('attach', {});
  }

  async detach(): Promise<void> {
    await this.call('detach', {});
  }

  /**
   * Starts a streaming exec (kubectl exec [-it]); its output arrives through onOutput with its execId, its end
   * through onExecExit. Input and resize take the execId. If this connection closes, the exec's stdin is closed.
   */
  execStart(params: ExecStartParams): Promise<{ pid: number }> {
    return this.call('execStart', params);
  }

  /** Writes to the container's stdin (created with stdin: true), or to an exec's; `close` closes it afterwards. */
  async input(data: Buffer, close = false, execId?: string): Promise<void> {
    await this.call('input', { data: data.toString('base64'), close, ...(execId === undefined ? {} : { execId }) });
  }

  /** Sets the terminal size of a tty container, or of a tty exec. */
  async resize(width: number, height: number, execId?: string): Promise<void> {
    await this.call('resize', { width, height, ...(execId === undefined ? {} : { execId }) });
  }

  /** Output of an attached connection (execId undefined) or of an exec it started; returns the unsubscribe function. */
  onOutput(listener: OutputListener): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** Output the shim dropped for this connection because it read too slowly. */
  onOutputDropped(listener: (bytes: number, execId: string | undefined) => void): () => void {
    this.droppedListeners.add(listener);
    return () => this.droppedListeners.delete(listener);
  }

  /** A streaming exec started on this connection exited (after all its output). */
  onExecExit(listener: (execId: string, exitCode: number) => void): () => void {
    this.execExitListeners.add(listener);
    return () => this.execExitListeners.delete(listener);
  }

  /** Resolves when the container's init has exited (its status already durable in exit.json). */
  async wait(): Promise<ExitStatus> {
    return (await this.call('wait', {})).exit;
  }

  /** Deletes the container; the shim exits after answering. */
  async delete(force = false): Promise<ExitStatus | null> {
    const r = await this.call('delete', { force });
    return r.exit;
  }

  /** Stops a shim that owns no live container (a spare, or one whose create failed). */
  async shutdown(): Promise<void> {
    await this.call('shutdown', {});
  }

  /** Exit events of the container; returns the unsubscribe function. */
  onExit(listener: (id: string, exit: ExitStatus) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  /** Called once when the connection is gone (the shim exited or was killed). */
  onClose(listener: () => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  private handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new ShimError('Unavailable', `connection to berth-shim at ${this.socketPath} closed before it answered`);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const l of this.closeListeners) l();
  }

  /** Drops the connection; the shim and its container keep running. */
  close(): void {
    this.socket.destroy();
  }

  private dispatch(frame: ReturnType<typeof parseServerFrame>): void {
    if ('event' in frame) {
      if (frame.event === 'exit') {
        const d = frame.data as Events['exit'];
        for (const l of this.exitListeners) l(d.id, d.exit);
      } else if (frame.event === 'output') {
        const d = frame.data as Events['output'];
        const bytes = Buffer.from(d.data, 'base64');
        for (const l of this.outputListeners) l(d.stream, bytes, d.execId);
      } else if (frame.event === 'outputDropped') {
        const d = frame.data as Events['outputDropped'];
        for (const l of this.droppedListeners) l(d.bytes, d.execId);
      } else if (frame.event === 'execExit') {
        const d = frame.data as Events['execExit'];
        for (const l of this.execExitListeners) l(d.execId, d.exitCode);
      }
      return;
    }
    const p = this.pending.get(frame.id);
    if (p === undefined) return;
    this.pending.delete(frame.id);
    if ('error' in frame) p.reject(new ShimError(frame.error.code, frame.error.message));
    else p.resolve(frame.result);
  }
}

export interface SpawnShimOptions {
  /** Where the shim listens until a create moves its socket into the bundle (for a bundle: <bundle>/shim.sock). */
  socket: string;
  /** The shim's own stdout/stderr; null sends them to /dev/null. */
  logFile: string | null;
  /** The shim's main script; defaults to dist/shim-cjs/main.js (the CommonJS build). */
  shimPath?: string;
  /** The node binary; defaults to the daemon's own. */
  nodePath?: string;
  /** Node/V8 flags for the shim process; defaults to SHIM_NODE_FLAGS. */
  nodeFlags?: readonly string[];
  /** Scheduling niceness for the shim's start-up (a spare boots at a low priority; its create restores 0). */
  nice?: number;
}

export interface StartShimOptions {
  bundle: string;
  id: string;
  namespace: string;
  /** runc or crun: a name in PATH or an absolute path. */
  runtime: string;
  /** Extra global runtime flags, e.g. ["--systemd-cgroup"]. */
  runtimeArgs: string[];
  /** The runtime's --root, `<state>/runc/<namespace>`. */
  runcRoot: string;
  /** CRI log file, or "" to discard output. */
  logPath: string;
  stdin: boolean;
  tty: boolean;
  shimPath?: string;
  nodePath?: string;
  /** Take a pre-started shim from this pool instead of starting one (saves the node start-up). */
  spares?: SpareShims;
}

/**
 * Node flags for the shim: no V8 flag. Any V8 flag makes node reject the code cache built into its binary and
 * compile its own modules from source, ~10–14 ms more CPU at every shim start (bench/shim-footprint.ts, figures
 * in docs/ARCHITECTURE.md, "Footprint"). The V8 flags once used here to keep a shim's heap small after a burst of
 * output (a 1 MiB young generation, one thread, optimize-for-size) are replaced by shim/heap-trim.ts.
 * `--v8-pool-size` is node's own option (no V8 flag): one helper thread instead of four, fewer stacks and malloc
 * arenas per shim. No old-space cap: a heap limit would turn a burst (a 16 MiB exec result is ~22 MiB of base64)
 * into a crashed shim and an orphaned container.
 */
export const SHIM_NODE_FLAGS: readonly string[] = ['--v8-pool-size=1'];

export function defaultShimPath(): string {
  const here = fileURLToPath(import.meta.url);
  // The CommonJS build (shim/tsconfig.cjs.json): node then starts the shim without its ESM loader.
  return fileURLToPath(new URL(here.endsWith('.ts') ? '../dist/shim-cjs/main.js' : '../shim-cjs/main.js', import.meta.url));
}

/**
 * Starts a shim in its own session (setsid) with no tie to the caller: the caller may be killed with
 * SIGKILL and the shim carries on. Resolves once the shim listens (it writes "ready" on an inherited pipe and
 * closes it, so there is no polling); returns its pid.
 */
export async function spawnShim(opts: SpawnShimOptions): Promise<number> {
  const out = opts.logFile === null ? 'ignore' : fs.openSync(opts.logFile, 'a', 0o640);
  const shimPath = opts.shimPath ?? defaultShimPath();
  let child;
  try {
    child = spawn(opts.nodePath ?? process.execPath, [...(opts.nodeFlags ?? SHIM_NODE_FLAGS), shimPath, '--socket', opts.socket, '--ready-fd', '3'], {
      detached: true,
      stdio: ['ignore', out, out, 'pipe'],
      cwd: '/',
      // Nothing of the daemon's environment (NODE_OPTIONS, proxies, debug switches) leaks into a long-lived shim
      // or, through it, into runc.
      env: { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
    });
  } finally {
    if (typeof out === 'number') fs.closeSync(out);
  }
  // Set right after the fork, before node has done most of its start-up work.
  if (opts.nice !== undefined && child.pid !== undefined) os.setPriority(child.pid, opts.nice);
  const ready = child.stdio[3];
  if (ready === null || ready === undefined) throw new ShimError('Internal', 'berth-shim was spawned without its ready pipe');
  const message = await new Promise<string>((resolve, reject) => {
    let text = '';
    ready.on('data', (d: Buffer) => { text += d.toString(); });
    ready.once('close', () => resolve(text));
    child.once('error', (err) => reject(new ShimError('Unavailable', `cannot start berth-shim (${shimPath}): ${err.message}`, { cause: err })));
  });
  child.unref();
  if (message !== 'ready\n') {
    const why = message.replace(/^error: /, '').trim() || `it exited before listening (see ${opts.logFile ?? 'its log'})`;
    throw new ShimError('Unavailable', `berth-shim for ${opts.socket} failed to start: ${why}`);
  }
  if (child.pid === undefined) throw new ShimError('Internal', 'berth-shim has no pid after starting');
  return child.pid;
}

/**
 * Starts the shim for one container and creates the container (runc create); the container is then
 * 'created' and waits for client.start(). On a failed create the shim is shut down and the error thrown.
 */
export async function startShim(opts: StartShimOptions): Promise<ShimClient> {
  let client: ShimClient;
  if (opts.spares !== undefined) {
    client = await opts.spares.take();
  } else {
    const paths = bundlePaths(opts.bundle);
    await spawnShim({ socket: paths.socket, logFile: paths.shimLog, shimPath: opts.shimPath, nodePath: opts.nodePath });
    client = await ShimClient.connect(paths.socket);
  }
  try {
    await client.create({
      bundle: opts.bundle,
      id: opts.id,
      namespace: opts.namespace,
      runtime: { binary: opts.runtime, args: opts.runtimeArgs, root: opts.runcRoot },
      logPath: opts.logPath,
      stdin: opts.stdin,
      tty: opts.tty,
    });
  } catch (err) {
    // The create error is the one to report; a shim that cannot even shut down is already gone.
    await client.shutdown().catch(() => undefined);
    client.close();
    throw err;
  }
  return client;
}

/** The niceness a spare shim boots at; the shim returns itself to 0 when it takes a container. */
const SPARE_NICE = 10;

export interface SpareShimsOptions extends Pick<SpawnShimOptions, 'shimPath' | 'nodePath' | 'nodeFlags'> {
  /** Spares kept ready; 1 by default. */
  size?: number;
  /** A background refill failed (the next take() starts a shim itself); for the daemon's log. */
  onRefillError: (err: unknown) => void;
}

/**
 * A pool of pre-started shims (one by default) in `dir`, so a pod start does not wait for node to boot a shim:
 * take() hands out a connected spare, which `startShim({..., spares})` sends its create (the shim then moves
 * its socket and log into the bundle), and starts the next spare in the background. Spares left in `dir` by a
 * previous daemon are adopted by open().
 */
export class SpareShims {
  private readonly ready: ShimClient[] = [];
  private filling: Promise<void> | null = null;
  private seq = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly options: SpareShimsOptions,
  ) {}

  private get size(): number {
    return this.options.size ?? 1;
  }

  /** Opens the pool: adopts live spares found in `dir`, removes dead sockets, and fills up to `size`. */
  static async open(dir: string, options: SpareShimsOptions): Promise<SpareShims> {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const pool = new SpareShims(dir, options);
    const size = pool.size;
    for (const name of fs.readdirSync(dir).filter((n) => /^spare-.*\.sock$/.test(n))) {
      const socket = path.join(dir, name);
      try {
        const c = await ShimClient.connect(socket);
        if (c.info.bundle === null && pool.ready.length < size) pool.ready.push(c);
        else {
          await c.shutdown();
          c.close();
        }
      } catch (err) {
        // Nobody listens: a spare that died with the machine or was killed; its socket file is all that is left.
        if (!isShimError(err, 'Unavailable')) throw err;
        fs.rmSync(socket, { force: true });
      }
    }
    pool.refill();
    return pool;
  }

  /** A connected spare; starts a shim at normal priority if none is ready. */
  async take(): Promise<ShimClient> {
    if (this.closed) throw new ShimError('FailedPrecondition', `the spare shim pool in ${this.dir} is closed`);
    // A spare killed while it waited is dropped: its create would fail the container for nothing.
    for (let c = this.ready[0]; c?.isClosed === true; c = this.ready[0]) this.ready.shift();
    // With none ready (a burst of creates), the caller does not wait for a spare booting at low priority, which
    // busy CPUs may starve; that one becomes the next spare.
    const c = this.ready.shift() ?? await this.spawnOne(undefined);
    this.refill();
    return c;
  }

  /** Shuts the unused spares down. */
  async close(): Promise<void> {
    this.closed = true;
    await this.filling?.catch(() => undefined);
    for (const c of this.ready.splice(0)) {
      await c.shutdown();
      c.close();
    }
  }

  private refill(): void {
    if (this.closed || this.filling !== null || this.ready.length >= this.size) return;
    // take() starts a shim itself when the pool is empty, so a failed refill costs only speed.
    this.filling = this.fill().catch((err: unknown) => this.options.onRefillError(err)).finally(() => {
      this.filling = null;
    });
  }

  private async fill(): Promise<void> {
    // A spare is started while a pod is being set up; at low priority its boot (~100 ms of CPU) does not
    // compete with the runc calls of that pod on a small node.
    while (!this.closed && this.ready.length < this.size) this.ready.push(await this.spawnOne(SPARE_NICE));
  }

  private async spawnOne(nice: number | undefined): Promise<ShimClient> {
    const socket = path.join(this.dir, `spare-${process.pid}-${Date.now()}-${this.seq++}.sock`);
    await spawnShim({ socket, logFile: path.join(this.dir, 'spares.log'), shimPath: this.options.shimPath, nodePath: this.options.nodePath, nodeFlags: this.options.nodeFlags, nice });
    return ShimClient.connect(socket);
  }
}

/** Reconnects to the shim of a bundle (after a daemon restart). */
export function connectShim(bundle: string): Promise<ShimClient> {
  return ShimClient.connect(bundlePaths(bundle).socket);
}

/** The exit status the shim recorded in the bundle, for when the shim itself is gone; null if none. */
export function readExitStatus(bundle: string): ExitStatus | null {
  let text: string;
  try {
    text = fs.readFileSync(bundlePaths(bundle).exitStatus, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as ExitStatus;
}
