/**
 * The shim's side of the protocol (shim/protocol.ts): accepts connections on the socket, requires a hello,
 * dispatches requests to the one Container, and broadcasts exit events. The shim stays up after its container
 * exits, with or without a client, until a delete or shutdown collects the status.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { nowNs } from './clock.js';
import type { Container } from './container.js';
import { ShimError, toShimError } from './errors.js';
import type { HeapTrimmer } from './heap-trim.js';
import {
  bundlePaths, encodeFrame, FrameReader, parseRequest, PROTOCOL_VERSION,
  type CreateParams, type DeleteParams, type EventFrame, type ExecParams, type ExecStartParams, type ExitStatus, type InputParams,
  type KillParams,
  type Method, type RequestFrame, type ResizeParams, type ResponseFrame, type UpdateParams,
} from './protocol.js';
import type { Reaper } from './reaper.js';
import { withShortSocketPath } from './socket-path.js';

interface Connection {
  socket: net.Socket;
  greeted: boolean;
  /** Set while the connection is attached to the container's output. */
  detach: (() => void) | null;
  /** Streaming execs this connection started: their stdin is closed if it goes away. */
  execs: Set<string>;
}

/** Output queued to one attached client beyond this is dropped (the CRI log keeps it), not buffered. */
const ATTACH_BACKLOG_BYTES = 8 * 1024 * 1024;

function requireString(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw new ShimError('InvalidArgument', `create: "${name}" must be a non-empty string`);
  return v;
}

function parseCreate(p: Record<string, unknown>): CreateParams {
  const rt = p.runtime;
  if (typeof rt !== 'object' || rt === null) throw new ShimError('InvalidArgument', 'create: "runtime" must be an object {binary, args, root}');
  const r = rt as Record<string, unknown>;
  const args = r.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw new ShimError('InvalidArgument', 'create: "runtime.args" must be an array of strings');
  const bundle = requireString(p.bundle, 'bundle');
  if (!path.isAbsolute(bundle)) throw new ShimError('InvalidArgument', `create: bundle "${bundle}" must be an absolute path`);
  const id = requireString(p.id, 'id');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(id)) throw new ShimError('InvalidArgument', `create: container id "${id}" may hold only letters, digits, "_", "." and "-"`);
  const logPath = p.logPath ?? '';
  if (typeof logPath !== 'string') throw new ShimError('InvalidArgument', 'create: "logPath" must be a string');
  return {
    bundle,
    id,
    namespace: requireString(p.namespace, 'namespace'),
    runtime: { binary: requireString(r.binary, 'runtime.binary'), args: args as string[], root: requireString(r.root, 'runtime.root') },
    logPath,
    stdin: p.stdin === true,
    tty: p.tty === true,
  };
}

export class ShimServer {
  private container: Container | null = null;
  private reaper: Reaper | null = null;
  private readonly connections = new Set<Connection>();
  private readonly server: net.Server;
  private exiting = false;

  /** `heap` is told of every request and every chunk of output. */
  constructor(private socketPath: string, private readonly heap: HeapTrimmer | null = null) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(): Promise<void> {
    fs.rmSync(this.socketPath, { force: true });
    return withShortSocketPath(this.socketPath, (usable) =>
      new Promise((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(usable, () => {
          this.server.off('error', reject);
          resolve();
        });
      }),
    );
  }

  private accept(socket: net.Socket): void {
    const conn: Connection = { socket, greeted: false, detach: null, execs: new Set() };
    this.connections.add(conn);
    const reader = new FrameReader();
    socket.on('data', (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.send(conn, { id: 0, error: toShimError(err, 'ProtocolError', 'unreadable frame').toBody() });
        socket.destroy();
        return;
      }
      for (const f of frames) void this.handle(conn, f);
    });
    // A vanished client is normal (daemon restart); its pending answers are dropped, the shim carries on.
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      conn.detach?.();
      // The client of an interactive exec is gone: its process reads EOF (or ^D) and its output is dropped.
      for (const execId of conn.execs) this.container?.closeExecInput(execId);
      this.connections.delete(conn);
    });
  }

  private async handle(conn: Connection, raw: unknown): Promise<void> {
    this.heap?.touch();
    let req: RequestFrame;
    try {
      req = parseRequest(raw);
    } catch (err) {
      const id = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'number' ? (raw as { id: number }).id : 0;
      this.send(conn, { id, error: toShimError(err, 'ProtocolError', 'bad request').toBody() });
      return;
    }
    try {
      if (req.method !== 'hello' && !conn.greeted) throw new ShimError('ProtocolError', `${req.method} before hello; send hello {version: ${PROTOCOL_VERSION}} first`);
      const result = await this.dispatch(conn, req.method, req.params);
      this.send(conn, { id: req.id, result });
      if ((req.method === 'delete' || req.method === 'shutdown') && this.exiting) this.exitAfterFlush(conn);
    } catch (err) {
      this.send(conn, { id: req.id, error: toShimError(err, 'Internal', `${req.method} failed`).toBody() });
    }
  }

  private async dispatch(conn: Connection, method: Method, params: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case 'hello': {
        if (params.version !== PROTOCOL_VERSION) {
          throw new ShimError('Unsupported', `protocol version ${String(params.version)} is not spoken by this berth-shim (it speaks ${PROTOCOL_VERSION}); restart the shim with a matching berth build`);
        }
        conn.greeted = true;
        return { version: PROTOCOL_VERSION, shimPid: process.pid, bundle: this.container?.params.bundle ?? null, id: this.container?.params.id ?? null };
      }
      case 'create':
        return this.create(parseCreate(params));
      case 'state':
        return this.current().state(process.pid);
      case 'start': {
        const r = await this.current().start();
        return { pid: r.pid, startedAtNs: r.startedAtNs.toString() };
      }
      case 'kill':
        await this.current().kill(params as unknown as KillParams);
        return { ok: true };
      case 'exec': {
        const p = params as unknown as ExecParams;
        if (typeof p.process !== 'object' || p.process === null) throw new ShimError('InvalidArgument', 'exec: "process" must be an OCI process object');
        return this.current().exec({ process: p.process, timeoutMs: typeof p.timeoutMs === 'number' ? p.timeoutMs : 0 });
      }
      case 'execStart': {
        const p = params as unknown as Partial<ExecStartParams>;
        if (typeof p.execId !== 'string' || p.execId === '') throw new ShimError('InvalidArgument', 'execStart: "execId" must be a non-empty string');
        if (typeof p.process !== 'object' || p.process === null) throw new ShimError('InvalidArgument', 'execStart: "process" must be an OCI process object');
        const execId = p.execId;
        const pid = await this.current().execStart(
          { execId, process: p.process, stdin: p.stdin === true, tty: p.tty === true },
          (stream, chunk) => this.sendOutput(conn, stream, chunk, execId),
          (exitCode) => {
            conn.execs.delete(execId);
            this.send(conn, { event: 'execExit', data: { id: this.container?.params.id ?? '', execId, exitCode } });
          },
        );
        conn.execs.add(execId);
        return { pid };
      }
      case 'update': {
        const p = params as unknown as UpdateParams;
        if (typeof p.resources !== 'object' || p.resources === null) throw new ShimError('InvalidArgument', 'update: "resources" must be an OCI linux.resources object');
        await this.current().update(p.resources);
        return { ok: true };
      }
      case 'stats':
        return this.current().stats();
      case 'reopenLog':
        this.current().reopenLog();
        return { ok: true };
      case 'attach':
        if (conn.detach === null) conn.detach = this.current().attach((stream, chunk) => this.sendOutput(conn, stream, chunk));
        return { ok: true };
      case 'detach':
        conn.detach?.();
        conn.detach = null;
        return { ok: true };
      case 'input': {
        const p = params as unknown as Partial<InputParams>;
        if (typeof p.data !== 'string') throw new ShimError('InvalidArgument', 'input: "data" must be a base64 string');
        const data = Buffer.from(p.data, 'base64');
        if (typeof p.execId === 'string') this.current().execInput(p.execId, data, p.close === true);
        else this.current().input(data, p.close === true);
        return { ok: true };
      }
      case 'resize': {
        const p = params as unknown as Partial<ResizeParams>;
        const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 0xffff;
        if (!ok(p.width) || !ok(p.height)) throw new ShimError('InvalidArgument', 'resize: "width" and "height" must be integers from 1 to 65535');
        if (typeof p.execId === 'string') this.current().execResize(p.execId, p.width, p.height);
        else this.current().resize(p.width, p.height);
        return { ok: true };
      }
      case 'wait':
        return { exit: await this.current().wait() };
      case 'delete': {
        const exit = await this.current().delete((params as Partial<DeleteParams>).force === true);
        this.exiting = true;
        return { exit };
      }
      case 'shutdown': {
        const status = this.container?.state(process.pid).status;
        if (status !== undefined && status !== 'unknown' && status !== 'deleted') {
          throw new ShimError('FailedPrecondition', `container ${this.container?.params.id} is ${status}; delete it before shutting its shim down`);
        }
        this.exiting = true;
        return { ok: true };
      }
    }
  }

  private async create(params: CreateParams): Promise<{ pid: number }> {
    // Loaded at the first create, not at boot: an idle (spare) shim then never loads koffi, runc's
    // child_process, tty, the log writer and the cgroup readers (docs/ARCHITECTURE.md, Footprint). Before the
    // check below, so that check and assignment stay one synchronous step.
    const [{ Container }, libc, { Reaper }] = await Promise.all([import('./container.js'), import('./libc.js'), import('./reaper.js')]);
    await libc.loadLibc();
    // Until now the shim had no children to reap or orphans to adopt; from here on runc and the container do.
    if (this.reaper === null) {
      libc.setChildSubreaper();
      this.reaper = new Reaper(nowNs);
      this.reaper.install();
    }
    if (this.container !== null && this.container.state(process.pid).status !== 'unknown') {
      throw new ShimError('AlreadyExists', `this shim already owns container ${this.container.params.id}; start another shim for ${params.id}`);
    }
    const paths = bundlePaths(params.bundle);
    if (!fs.existsSync(`${params.bundle}/config.json`)) throw new ShimError('InvalidArgument', `create: bundle ${params.bundle} has no config.json`);
    // A spare shim listens elsewhere until it learns its bundle; the bound socket moves with a rename.
    if (path.resolve(this.socketPath) !== path.resolve(paths.socket)) {
      fs.renameSync(this.socketPath, paths.socket);
      this.socketPath = paths.socket;
      // Its argv still names the spare socket; working in the bundle tells ps and the doctor whose shim it is.
      process.chdir(params.bundle);
      // A spare boots at a low priority (SpareShims); its container's shim runs at the normal one.
      // Its processes (runc, the container) inherit it. Lowering niceness needs CAP_SYS_NICE, which berthd has.
      try {
        if (os.getPriority() !== 0) os.setPriority(0);
      } catch (err) {
        console.error('berth-shim: cannot return to priority 0; the container inherits the spare\'s niceness:', err);
      }
      // Its own log moves too, to where the daemon looks for it.
      const log = fs.openSync(paths.shimLog, 'a', 0o640);
      try {
        libc.redirectStdoutStderr(log);
      } finally {
        fs.closeSync(log);
      }
    }
    fs.writeFileSync(paths.shimPid, `${process.pid}\n`);
    this.container = new Container(params, this.reaper, (exit) => this.broadcastExit(params.id, exit), () => this.heap?.touch());
    return { pid: await this.container.create() };
  }

  private current(): Container {
    if (this.container === null) throw new ShimError('FailedPrecondition', 'this shim has no container yet; send create first');
    return this.container;
  }

  private broadcastExit(id: string, exit: ExitStatus): void {
    const frame: EventFrame = { event: 'exit', data: { id, exit } };
    for (const c of this.connections) if (c.greeted) this.send(c, frame);
  }

  private sendOutput(conn: Connection, stream: 'stdout' | 'stderr', chunk: Buffer, execId?: string): void {
    const id = this.container?.params.id ?? '';
    const ids = execId === undefined ? { id } : { id, execId };
    if (conn.socket.writableLength > ATTACH_BACKLOG_BYTES) {
      this.send(conn, { event: 'outputDropped', data: { ...ids, bytes: chunk.length } });
      return;
    }
    this.send(conn, { event: 'output', data: { ...ids, stream, data: chunk.toString('base64') } });
  }

  private send(conn: Connection, frame: ResponseFrame | EventFrame): void {
    if (!conn.socket.destroyed) conn.socket.write(encodeFrame(frame));
  }

  /** The status was handed over: close the socket, flush the answer, and exit. */
  private exitAfterFlush(conn: Connection): void {
    this.server.close();
    fs.rmSync(this.socketPath, { force: true });
    const done = (): void => process.exit(0);
    if (conn.socket.destroyed) done();
    else conn.socket.end(done);
  }
}
