/**
 * The one container a shim owns: its runtime calls, its stdio pipes and CRI log, its exec processes, and its
 * exit status, which is made durable before anyone is told.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cgroupPathsOf, oomKillCount, readStats, type CgroupPaths } from './cgroup.js';
import { formatRfc3339Nano, nowNs } from './clock.js';
import { CriLogWriter, type StreamName } from './cri-log.js';
import { writeFileDurably } from './durable-file.js';
import { ShimError, toShimError } from './errors.js';
import { CappedOutput } from './exec-output.js';
import { listenConsoleSocket, pipe, receiveFd, setWindowSize } from './libc.js';
import { drainWithin, openTerminal, readPipe, writePipe, type InputWriter, type PipeReader } from './stdio.js';
import {
  bundlePaths, EXEC_OUTPUT_CAP_BYTES,
  type BundlePaths, type ContainerStatus, type CreateParams, type ExecParams, type ExecResult, type ExitStatus,
  type KillParams, type OciResources, type StateResult, type StatsResult,
} from './protocol.js';
import type { Reaper, WaitStatus } from './reaper.js';
import { Runtime } from './runtime.js';

/** How long an exit waits for the container's output to reach EOF before it is reported anyway. */
const STDIO_DRAIN_MS = 2_000;

const SIGNAL = /^(SIG)?[A-Z][A-Z0-9+-]*$|^[1-9][0-9]?$/;

function closeFd(fd: number): void {
  fs.closeSync(fd);
}

export class Container {
  private status: ContainerStatus = 'unknown';
  private pid = 0;
  private startedAtNs: bigint | null = null;
  private exit: ExitStatus | null = null;
  /** The exit has been announced (waiters resolved, event sent): after exit.json and the stdio drain. */
  private exitReported = false;
  private readonly paths: BundlePaths;
  private readonly runtime: Runtime;
  private log: CriLogWriter | null = null;
  private stdio: PipeReader[] = [];
  /** The container's stdin, held open (so the container does not see EOF) until a client closes it. */
  private stdin: InputWriter | null = null;
  /** The pty master of a terminal container. */
  private terminalFd: number | null = null;
  private readonly attached = new Set<(stream: StreamName, chunk: Buffer) => void>();
  private cgroup: CgroupPaths | null = null;
  private oomBaseline = 0n;
  private execCount = 0;
  private readonly exitWaiters: Array<(exit: ExitStatus) => void> = [];

  constructor(
    readonly params: CreateParams,
    private readonly reaper: Reaper,
    private readonly onExit: (exit: ExitStatus) => void,
  ) {
    this.paths = bundlePaths(params.bundle);
    this.runtime = new Runtime(params.runtime, this.paths.runtimeLog, reaper);
  }

  state(shimPid: number): StateResult {
    return {
      id: this.params.id,
      namespace: this.params.namespace,
      bundle: this.params.bundle,
      status: this.status,
      pid: this.pid,
      shimPid,
      startedAtNs: this.startedAtNs === null ? null : this.startedAtNs.toString(),
      exit: this.exit,
    };
  }

  async create(): Promise<number> {
    try {
      this.log = new CriLogWriter(this.params.logPath, nowNs, (err) => console.error(`berth-shim: writing ${this.params.logPath}:`, err));
    } catch (err) {
      throw toShimError(err, 'InvalidArgument', `container ${this.params.id}: cannot open log file ${this.params.logPath} (does its directory exist?)`);
    }
    const args = ['create', '--bundle', this.params.bundle, '--pid-file', this.paths.initPid];
    try {
      if (this.params.tty) await this.createWithTerminal(args);
      else await this.createWithPipes(args);
    } catch (e) {
      this.releaseStdio();
      throw e;
    }
    this.pid = Number.parseInt(fs.readFileSync(this.paths.initPid, 'utf8').trim(), 10);
    try {
      this.cgroup = cgroupPathsOf(this.pid);
      this.oomBaseline = oomKillCount(this.cgroup);
    } catch (e) {
      // Without its cgroup the container still runs; only stats and the OOM reason are lost.
      console.error(`berth-shim: container ${this.params.id}: cannot resolve cgroup of pid ${this.pid}:`, e);
    }
    this.status = 'created';
    this.reaper.onExit(this.pid, (ws) => void this.initExited(ws));
    return this.pid;
  }

  /** stdout and stderr as pipes into the log; stdin a pipe the shim keeps open when asked for. */
  private async createWithPipes(args: string[]): Promise<void> {
    const out = pipe();
    const err = pipe();
    const stdin = this.params.stdin ? pipe() : null;
    const created = this.runtime.run([...args, this.params.id], { stdio: [stdin?.read ?? 'ignore', out.write, err.write] });
    // The runtime (and after it the container) holds the other ends now.
    closeFd(out.write);
    closeFd(err.write);
    if (stdin !== null) {
      closeFd(stdin.read);
      this.stdin = writePipe(stdin.write);
    }
    this.stdio = [readPipe(out.read, (c) => this.output('stdout', c)), readPipe(err.read, (c) => this.output('stderr', c))];
    await created;
  }

  /**
   * terminal: true. runc allocates the pty inside the container and sends its master over a console socket;
   * the socket lives in a short private directory because a bundle path can exceed sun_path's 107 bytes.
   */
  private async createWithTerminal(args: string[]): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-console-'));
    const socketPath = path.join(dir, 'console.sock');
    let listener: number | null = null;
    try {
      listener = listenConsoleSocket(socketPath);
      await this.runtime.run([...args, '--console-socket', socketPath, this.params.id]);
      const master = receiveFd(listener);
      this.terminalFd = master;
      const terminal = openTerminal(master, (c) => this.output('stdout', c));
      this.stdio = [terminal];
      if (this.params.stdin) this.stdin = terminal;
    } catch (err) {
      throw toShimError(err, 'RuntimeFailed', `container ${this.params.id}: cannot set up its terminal`);
    } finally {
      if (listener !== null) closeFd(listener);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  /** Every output chunk goes to the CRI log and to attached clients. */
  private output(stream: StreamName, chunk: Buffer): void {
    this.log?.write(stream, chunk);
    for (const l of this.attached) l(stream, chunk);
  }

  /** Streams the container's output from now on to `listener`; returns the detach function. */
  attach(listener: (stream: StreamName, chunk: Buffer) => void): () => void {
    this.require(['created', 'running'], 'attach');
    this.attached.add(listener);
    return () => this.attached.delete(listener);
  }

  /** Writes to the container's stdin; `close` then closes it (stdinOnce), or sends ^D to a terminal. */
  input(data: Buffer, close: boolean): void {
    this.require(['created', 'running'], 'input');
    if (this.stdin === null) throw new ShimError('FailedPrecondition', `container ${this.params.id} was created without stdin (or its stdin is closed)`);
    if (data.length > 0) this.stdin.write(data);
    if (close) {
      this.stdin.end();
      this.stdin = null;
    }
  }

  resize(width: number, height: number): void {
    this.require(['created', 'running'], 'resize');
    if (this.terminalFd === null) throw new ShimError('FailedPrecondition', `container ${this.params.id} has no terminal (tty: false)`);
    setWindowSize(this.terminalFd, height, width);
  }

  async start(): Promise<{ pid: number; startedAtNs: bigint }> {
    this.require(['created'], 'start');
    const startedAt = nowNs();
    this.startedAtNs = startedAt;
    try {
      await this.runtime.run(['start', this.params.id]);
    } catch (e) {
      this.startedAtNs = null;
      throw e;
    }
    // A container that exits at once may already be 'stopped' here.
    if (this.status === 'created') this.status = 'running';
    return { pid: this.pid, startedAtNs: startedAt };
  }

  async kill(p: KillParams): Promise<void> {
    const signal = String(p.signal);
    if (!SIGNAL.test(signal)) throw new ShimError('InvalidArgument', `kill: "${signal}" is not a signal name or number`);
    this.require(['created', 'running', 'stopped'], 'kill');
    // Signalling an exited container is a no-op, as StopContainer on it must succeed.
    if (this.status === 'stopped') return;
    await this.runtime.run(['kill', ...(p.all ? ['--all'] : []), this.params.id, signal]);
  }

  async update(resources: OciResources): Promise<void> {
    this.require(['created', 'running'], 'update');
    await this.runtime.run(['update', '--resources', '-', this.params.id], {
      stdio: ['pipe', 'ignore', 'ignore'],
      input: JSON.stringify(resources),
    });
  }

  stats(): StatsResult {
    this.require(['created', 'running', 'stopped'], 'stats');
    if (this.cgroup === null) throw new ShimError('Unavailable', `container ${this.params.id}: its cgroup could not be resolved; see shim.log in the bundle`);
    const s = readStats(this.cgroup);
    return {
      timestampNs: nowNs().toString(),
      cpuUsageNs: s.cpuUsageNs.toString(),
      memoryUsageBytes: s.memoryUsageBytes,
      memoryWorkingSetBytes: s.memoryWorkingSetBytes,
      memoryRssBytes: s.memoryRssBytes,
      pids: s.pids,
    };
  }

  reopenLog(): void {
    if (this.log === null) throw new ShimError('FailedPrecondition', `container ${this.params.id} has no log open (was it created?)`);
    try {
      this.log.reopen();
    } catch (err) {
      throw toShimError(err, 'Internal', `container ${this.params.id}: cannot reopen log file ${this.params.logPath}`);
    }
  }

  /** Resolves with the init's exit status once it is durable on disk and the stdio is drained. */
  wait(): Promise<ExitStatus> {
    this.require(['created', 'running', 'stopped'], 'wait');
    if (this.exit !== null && this.exitReported) return Promise.resolve(this.exit);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  async exec(p: ExecParams): Promise<ExecResult> {
    this.require(['running'], 'exec');
    const args = p.process.args;
    if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
      throw new ShimError('InvalidArgument', 'exec: process.args must be a non-empty array of strings');
    }
    if (p.process.terminal === true) throw new ShimError('Unsupported', 'exec: terminal (tty) exec is not supported by this berth-shim yet');
    const n = ++this.execCount;
    const processFile = `${this.params.bundle}/exec-${n}.json`;
    const pidFile = `${this.params.bundle}/exec-${n}.pid`;
    fs.writeFileSync(processFile, JSON.stringify({ cwd: '/', ...p.process, terminal: false }));
    const output = new CappedOutput(EXEC_OUTPUT_CAP_BYTES);
    const out = pipe();
    const err = pipe();
    let pid = 0;
    let timedOut = false;
    const timer = p.timeoutMs > 0 ? setTimeout(() => {
      timedOut = true;
      if (pid > 0) process.kill(pid, 'SIGKILL');
    }, p.timeoutMs) : undefined;
    const started = this.runtime.run(['exec', '--detach', '--pid-file', pidFile, '--process', processFile, this.params.id], {
      stdio: ['ignore', out.write, err.write],
    });
    closeFd(out.write);
    closeFd(err.write);
    const readers = [readPipe(out.read, (c) => output.add('stdout', c)), readPipe(err.read, (c) => output.add('stderr', c))];
    try {
      await started;
      pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
      if (timedOut) process.kill(pid, 'SIGKILL');
      const ws = await new Promise<WaitStatus>((resolve) => this.reaper.onExit(pid, resolve));
      await drainWithin(readers, STDIO_DRAIN_MS);
      return {
        exitCode: ws.exitCode,
        stdout: output.take('stdout').toString('base64'),
        stderr: output.take('stderr').toString('base64'),
        truncated: output.truncated,
        timedOut,
      };
    } finally {
      clearTimeout(timer);
      for (const r of readers) r.close();
      fs.rmSync(processFile, { force: true });
      fs.rmSync(pidFile, { force: true });
    }
  }

  /** Removes the container from the runtime; returns the final status for the daemon to keep. */
  async delete(force: boolean): Promise<ExitStatus | null> {
    if (this.status === 'deleted') return this.exit;
    if ((this.status === 'running' || this.status === 'created') && !force) {
      throw new ShimError('FailedPrecondition', `container ${this.params.id} is ${this.status}; stop it first or delete with force`);
    }
    if (this.status !== 'unknown') {
      const exited = this.wait();
      await this.runtime.run(['delete', ...(force ? ['--force'] : []), this.params.id]);
      await exited;
    }
    this.status = 'deleted';
    this.releaseStdio();
    return this.exit;
  }

  private async initExited(ws: WaitStatus): Promise<void> {
    const oomKilled = this.cgroup !== null && oomKillCount(this.cgroup) > this.oomBaseline;
    const exit: ExitStatus = {
      pid: this.pid,
      exitCode: ws.exitCode,
      ...(ws.signal === undefined ? {} : { signal: ws.signal }),
      exitedAtNs: ws.atNs.toString(),
      exitedAt: formatRfc3339Nano(ws.atNs),
      reason: oomKilled ? 'OOMKilled' : ws.exitCode === 0 ? 'Completed' : 'Error',
      oomKilled,
    };
    try {
      writeFileDurably(this.paths.exitStatus, `${JSON.stringify(exit)}\n`);
    } catch (err) {
      // Still report the exit live; only its survival across a shim crash is lost.
      console.error(`berth-shim: container ${this.params.id}: cannot write ${this.paths.exitStatus}:`, err);
    }
    this.exit = exit;
    this.status = 'stopped';
    await drainWithin(this.stdio, STDIO_DRAIN_MS);
    this.log?.close();
    this.exitReported = true;
    for (const w of this.exitWaiters.splice(0)) w(exit);
    this.onExit(exit);
  }

  private releaseStdio(): void {
    // A terminal's input is its reader's handle, closed below; a stdin pipe is closed on its own.
    if (this.terminalFd === null) this.stdin?.end();
    this.stdin = null;
    for (const r of this.stdio) r.close();
    this.stdio = [];
    this.log?.close();
    this.log = null;
    this.terminalFd = null;
    this.attached.clear();
  }

  private require(allowed: ContainerStatus[], op: string): void {
    if (!allowed.includes(this.status)) {
      throw new ShimError('FailedPrecondition', `container ${this.params.id} is ${this.status}; ${op} needs it ${allowed.join(' or ')}`);
    }
  }
}
