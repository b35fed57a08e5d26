/**
 * The one container a shim owns: its runtime calls, its stdio pipes and CRI log, its exec processes, and its
 * exit status, which is made durable before anyone is told.
 */
import fs from 'node:fs';
import { cgroupPathsOf, oomKillCount, readStats, type CgroupPaths } from './cgroup.js';
import { formatRfc3339Nano, nowNs } from './clock.js';
import { CriLogWriter, type StreamName } from './cri-log.js';
import { writeFileDurably } from './durable-file.js';
import { ShimError, toShimError } from './errors.js';
import { CappedOutput } from './exec-output.js';
import { ProcessIo, type ProcessIoOptions } from './process-io.js';
import { drainWithin } from './stdio.js';
import {
  bundlePaths, EXEC_OUTPUT_CAP_BYTES,
  type BundlePaths, type ContainerStatus, type CreateParams, type ExecParams, type ExecResult, type ExecStartParams,
  type ExitStatus, type KillParams, type OciProcess, type OciResources, type StateResult, type StatsResult,
} from './protocol.js';
import type { Reaper, WaitStatus } from './reaper.js';
import { Runtime } from './runtime.js';

/** How long an exit waits for the container's output to reach EOF before it is reported anyway. */
const STDIO_DRAIN_MS = 2_000;

const SIGNAL = /^(SIG)?[A-Z][A-Z0-9+-]*$|^[1-9][0-9]?$/;

interface LaunchedExec {
  pid: number;
  /** Resolves when the process has exited and its output is drained. */
  exited: Promise<WaitStatus>;
  /** Signals it (SIGKILL by default), unless it has already been reaped. */
  kill: (signal?: NodeJS.Signals | number) => void;
}

function writeInput(io: ProcessIo | null | undefined, what: string, data: Buffer, close: boolean): void {
  if (io?.stdin == null) throw new ShimError('FailedPrecondition', `${what} was started without stdin (or its stdin is closed)`);
  if (data.length > 0) io.stdin.write(data);
  if (close) io.closeStdin();
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
  /** The init's stdio; its stdin is held open (so the container does not see EOF) until a client closes it. */
  private io: ProcessIo | null = null;
  private readonly execs = new Map<string, ProcessIo>();
  /** Signal functions of the streaming execs, until each is reaped. */
  private readonly execSignals = new Map<string, (signal: NodeJS.Signals | number) => void>();
  private readonly attached = new Set<(stream: StreamName, chunk: Buffer) => void>();
  private cgroup: CgroupPaths | null = null;
  private oomBaseline = 0n;
  private execCount = 0;
  private readonly exitWaiters: Array<(exit: ExitStatus) => void> = [];

  constructor(
    readonly params: CreateParams,
    private readonly reaper: Reaper,
    private readonly onExit: (exit: ExitStatus) => void,
    /** Called for every chunk of output. */
    private readonly onOutput: () => void = () => undefined,
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
    const io = new ProcessIo({ tty: this.params.tty, stdin: this.params.stdin, onOutput: (stream, c) => this.output(stream, c) });
    this.io = io;
    try {
      const created = this.runtime.run(
        ['create', '--bundle', this.params.bundle, '--pid-file', this.paths.initPid, ...io.runtimeArgs, this.params.id],
        { stdio: io.runtimeStdio },
      );
      io.spawned();
      await created;
      io.created();
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
    this.reaper.onExit(this.pid, (ws) => {
      this.initExited(ws).catch((err: unknown) => console.error(`berth-shim: container ${this.params.id}: recording its exit:`, err));
    });
    return this.pid;
  }

  /** Every output chunk goes to the CRI log and to attached clients. */
  private output(stream: StreamName, chunk: Buffer): void {
    this.onOutput();
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
    writeInput(this.io, `container ${this.params.id}`, data, close);
  }

  resize(width: number, height: number): void {
    this.require(['created', 'running'], 'resize');
    if (this.io?.resize(width, height) !== true) throw new ShimError('FailedPrecondition', `container ${this.params.id} has no terminal (tty: false)`);
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
    if (p.execId !== undefined) {
      const send = this.execSignals.get(p.execId);
      if (send === undefined) throw new ShimError('NotFound', `no exec ${p.execId} runs in container ${this.params.id} (it may have exited)`);
      send(/^\d+$/.test(signal) ? Number(signal) : (signal.startsWith('SIG') ? signal : `SIG${signal}`) as NodeJS.Signals);
      return;
    }
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

  /** ExecSync: runs a process to completion and returns its (capped) output. */
  async exec(p: ExecParams): Promise<ExecResult> {
    this.require(['running'], 'exec');
    if (p.process.terminal === true) throw new ShimError('InvalidArgument', 'exec: a synchronous exec cannot have a terminal; use execStart');
    const output = new CappedOutput(EXEC_OUTPUT_CAP_BYTES);
    let timedOut = false;
    let proc: LaunchedExec | null = null;
    const timer = p.timeoutMs > 0 ? setTimeout(() => {
      timedOut = true;
      proc?.kill();
    }, p.timeoutMs) : undefined;
    try {
      proc = await this.launchExec(p.process, { tty: false, stdin: false, onOutput: (stream, c) => output.add(stream, c) });
      if (timedOut) proc.kill();
      const ws = await proc.exited;
      return {
        exitCode: ws.exitCode,
        stdout: output.take('stdout').toString('base64'),
        stderr: output.take('stderr').toString('base64'),
        truncated: output.truncated,
        timedOut,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A streaming exec (kubectl exec, -it): output goes to `onOutput` as it comes, input and resize are addressed
   * by `execId`, and `onExit` is called once the process has exited and its output is drained.
   */
  async execStart(p: ExecStartParams, onOutput: (stream: StreamName, chunk: Buffer) => void, onExit: (exitCode: number) => void): Promise<number> {
    this.require(['running'], 'execStart');
    if (this.execs.has(p.execId)) throw new ShimError('AlreadyExists', `exec ${p.execId} already runs in container ${this.params.id}`);
    const proc = await this.launchExec(p.process, { tty: p.tty, stdin: p.stdin, onOutput }, p.execId);
    proc.exited.then((ws) => onExit(ws.exitCode), (err: unknown) => console.error(`berth-shim: exec ${p.execId}: waiting for its exit:`, err));
    return proc.pid;
  }

  execInput(execId: string, data: Buffer, close: boolean): void {
    writeInput(this.execs.get(execId), `exec ${execId}`, data, close);
  }

  /** The exec's client went away: its process reads EOF; its output has nowhere to go. */
  closeExecInput(execId: string): void {
    this.execs.get(execId)?.closeStdin();
  }

  execResize(execId: string, width: number, height: number): void {
    const io = this.execs.get(execId);
    if (io === undefined) throw new ShimError('NotFound', `no exec ${execId} runs in container ${this.params.id}`);
    if (!io.resize(width, height)) throw new ShimError('FailedPrecondition', `exec ${execId} has no terminal (tty: false)`);
  }

  /**
   * `runc exec --detach`: the process is re-parented to the shim, which reaps it. `exited` resolves once it has
   * exited and its output is drained; its stdio is released then.
   */
  private async launchExec(proc: OciProcess, ioOptions: ProcessIoOptions, execId?: string): Promise<LaunchedExec> {
    const args = proc.args;
    if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
      throw new ShimError('InvalidArgument', 'exec: process.args must be a non-empty array of strings');
    }
    const n = ++this.execCount;
    const processFile = `${this.params.bundle}/exec-${n}.json`;
    const pidFile = `${this.params.bundle}/exec-${n}.pid`;
    fs.writeFileSync(processFile, JSON.stringify({ cwd: '/', ...proc, terminal: ioOptions.tty }));
    const io = new ProcessIo(ioOptions);
    try {
      const started = this.runtime.run(['exec', '--detach', '--pid-file', pidFile, '--process', processFile, ...io.runtimeArgs, this.params.id], {
        stdio: io.runtimeStdio,
      });
      io.spawned();
      await started;
      io.created();
      const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
      if (execId !== undefined) this.execs.set(execId, io);
      let reaped = false;
      // Once reaped, the pid may belong to someone else: never signal it then.
      const kill = (signal: NodeJS.Signals | number = 'SIGKILL'): void => {
        if (!reaped) process.kill(pid, signal);
      };
      if (execId !== undefined) this.execSignals.set(execId, kill);
      const exited = new Promise<WaitStatus>((resolve) => this.reaper.onExit(pid, resolve)).then(async (ws) => {
        reaped = true;
        if (execId !== undefined) this.execSignals.delete(execId);
        await drainWithin(io.readers, STDIO_DRAIN_MS);
        return ws;
      }).finally(() => {
        io.close();
        if (execId !== undefined) this.execs.delete(execId);
      });
      return { pid, exited, kill };
    } catch (err) {
      io.close();
      throw err;
    } finally {
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
    await drainWithin(this.io?.readers ?? [], STDIO_DRAIN_MS);
    this.log?.close();
    this.exitReported = true;
    for (const w of this.exitWaiters.splice(0)) w(exit);
    this.onExit(exit);
  }

  private releaseStdio(): void {
    this.io?.close();
    this.io = null;
    this.log?.close();
    this.log = null;
    this.attached.clear();
  }

  private require(allowed: ContainerStatus[], op: string): void {
    if (!allowed.includes(this.status)) {
      throw new ShimError('FailedPrecondition', `container ${this.params.id} is ${this.status}; ${op} needs it ${allowed.join(' or ')}`);
    }
  }
}
