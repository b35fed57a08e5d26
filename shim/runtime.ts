/**
 * Invocations of the OCI runtime binary (runc or crun; both take the same command line). Every call passes
 * `--root` and a JSON `--log` in the bundle, so a failure is explained by the runtime's own last error line.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import { ShimError } from './errors.js';
import type { RuntimeOptions } from './protocol.js';
import type { Reaper } from './reaper.js';

export interface RunOptions {
  /** stdin, stdout, stderr of the runtime process; defaults to /dev/null for all three. */
  stdio?: [number | 'ignore' | 'pipe', number | 'ignore', number | 'ignore'];
  /** Written to the runtime's stdin (then closed); needs stdio[0] === 'pipe'. */
  input?: string;
}

/** Errors the runtime logged at or after `offset` in its JSON log, newest last. */
function runtimeErrorsSince(logPath: string, offset: number): string[] {
  let text: string;
  try {
    const fd = fs.openSync(logPath, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buf, 0, buf.length, offset);
      text = buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // No log file means the runtime failed before logging anything; the exit code is all there is.
    return [];
  }
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if ((entry.level === 'error' || entry.level === 'fatal') && typeof entry.msg === 'string') errors.push(entry.msg);
    } catch {
      errors.push(line);
    }
  }
  return errors;
}

function sizeOf(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch {
    return 0;
  }
}

export class Runtime {
  constructor(
    private readonly options: RuntimeOptions,
    private readonly logPath: string,
    private readonly reaper: Reaper,
  ) {}

  /** Runs `<binary> <global args> <args>` and resolves when it exits 0; otherwise rejects with its error. */
  run(args: string[], opts: RunOptions = {}): Promise<void> {
    const argv = [...this.options.args, '--root', this.options.root, '--log', this.logPath, '--log-format', 'json', ...args];
    const offset = sizeOf(this.logPath);
    const stdio: StdioOptions = opts.stdio ?? ['ignore', 'ignore', 'ignore'];
    return new Promise((resolve, reject) => {
      const child = spawn(this.options.binary, argv, { stdio });
      this.reaper.trackSpawned(child);
      child.once('error', (err) => {
        reject(new ShimError('RuntimeFailed', `cannot run the OCI runtime "${this.options.binary}": ${err.message}; set the runtime path in the berth config`, { cause: err }));
      });
      child.once('exit', (code, signal) => {
        if (code === 0) {
          resolve();
          return;
        }
        const errors = runtimeErrorsSince(this.logPath, offset);
        const why = errors.length > 0 ? errors[errors.length - 1] : `exited with ${code ?? signal}`;
        reject(new ShimError('RuntimeFailed', `${this.options.binary} ${args[0] ?? ''} failed: ${why}`));
      });
      if (opts.input !== undefined && child.stdin !== null) child.stdin.end(opts.input);
    });
  }
}
