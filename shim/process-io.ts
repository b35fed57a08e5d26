/**
 * The stdio of one process the runtime starts (the container's init, or an exec): pipes the shim owns, or a
 * terminal whose pty master runc sends over a console socket. Used in three steps around the runtime call:
 *   const io = new ProcessIo(...); const run = runtime.run([...args, ...io.runtimeArgs, id], {stdio: io.runtimeStdio});
 *   io.spawned(); await run; io.created();
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { StreamName } from './cri-log.js';
import { listenConsoleSocket, pipe, receiveFd, setWindowSize } from './libc.js';
import type { RunOptions } from './runtime.js';
import { openTerminal, readPipe, writePipe, type InputWriter, type PipeReader } from './stdio.js';

export interface ProcessIoOptions {
  tty: boolean;
  /** Keep an input channel to the process (a pipe, or the terminal). */
  stdin: boolean;
  /** Output as it arrives; a view of a reused buffer, to be copied if kept. */
  onOutput: (stream: StreamName, chunk: Buffer) => void;
}

export class ProcessIo {
  readers: PipeReader[] = [];
  /** The process's stdin, until closed. */
  stdin: InputWriter | null = null;
  readonly runtimeArgs: string[] = [];
  readonly runtimeStdio: NonNullable<RunOptions['stdio']>;
  private terminalFd: number | null = null;
  /** Ends that belong to the runtime's child: closed in the shim once it has them. */
  private readonly childEnds: number[] = [];
  /** The shim's own ends, until spawned() hands them to readers and the stdin writer. */
  private readonly ownEnds: number[] = [];
  private readonly start: () => void;
  private console: { dir: string; fd: number } | null = null;

  constructor(private readonly opts: ProcessIoOptions) {
    if (opts.tty) {
      // A bundle path can exceed sun_path's 107 bytes; the socket lives in a short private directory.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-console-'));
      const socketPath = path.join(dir, 'console.sock');
      try {
        this.console = { dir, fd: listenConsoleSocket(socketPath) };
      } catch (err) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      this.runtimeArgs = ['--console-socket', socketPath];
      this.runtimeStdio = ['ignore', 'ignore', 'ignore'];
      this.start = () => undefined;
      return;
    }
    const out = pipe();
    const err = pipe();
    const input = opts.stdin ? pipe() : null;
    this.runtimeStdio = [input?.read ?? 'ignore', out.write, err.write];
    this.childEnds.push(out.write, err.write, ...(input === null ? [] : [input.read]));
    this.ownEnds.push(out.read, err.read, ...(input === null ? [] : [input.write]));
    this.start = () => {
      this.ownEnds.length = 0;
      this.readers = [readPipe(out.read, (c) => opts.onOutput('stdout', c)), readPipe(err.read, (c) => opts.onOutput('stderr', c))];
      if (input !== null) this.stdin = writePipe(input.write);
    };
  }

  /** The runtime has been spawned with runtimeStdio: drop the shim's copies of its ends, start reading ours. */
  spawned(): void {
    for (const fd of this.childEnds.splice(0)) fs.closeSync(fd);
    this.start();
  }

  /** The runtime exited 0: for a terminal, take the pty master runc left on the console socket. */
  created(): void {
    if (this.console === null) return;
    try {
      const master = receiveFd(this.console.fd);
      this.terminalFd = master;
      const terminal = openTerminal(master, (c) => this.opts.onOutput('stdout', c));
      this.readers = [terminal];
      if (this.opts.stdin) this.stdin = terminal;
    } finally {
      this.closeConsole();
    }
  }

  resize(width: number, height: number): boolean {
    if (this.terminalFd === null) return false;
    setWindowSize(this.terminalFd, height, width);
    return true;
  }

  /** Closes stdin (a pipe: EOF; a terminal: ^D) and forgets it. */
  closeStdin(): void {
    this.stdin?.end();
    this.stdin = null;
  }

  /** Releases every fd (after a failed runtime call, or when the process is done with). */
  close(): void {
    // A terminal's input is its reader's handle, closed below; a stdin pipe is closed on its own.
    if (this.terminalFd === null) this.stdin?.end();
    this.stdin = null;
    for (const fd of [...this.childEnds.splice(0), ...this.ownEnds.splice(0)]) fs.closeSync(fd);
    for (const r of this.readers) r.close();
    this.readers = [];
    this.terminalFd = null;
    this.closeConsole();
  }

  private closeConsole(): void {
    if (this.console === null) return;
    fs.closeSync(this.console.fd);
    fs.rmSync(this.console.dir, { recursive: true, force: true });
    this.console = null;
  }
}
