import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A daemon started by a bench, with its output captured in a log file. */
export interface DaemonProcess {
  child: ChildProcess;
  /** The program and its arguments, for messages. */
  commandLine: string;
  logFile: string;
  /** Why the daemon is not running ('exited with 1', 'could not start: spawn x ENOENT'), or undefined while it is. */
  ended(): string | undefined;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
  terminate(graceMs?: number): Promise<void>;
  /** The last lines of the log, for error messages. */
  logTail(lines?: number): string;
}

export function spawnDaemon(command: string, args: string[], logFile: string): DaemonProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  // 'error' without 'exit' means the binary could not be started at all (not installed, not executable).
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      spawnError = err;
      resolve();
    });
  });
  const ended = (): string | undefined => {
    if (spawnError !== undefined) return `could not start: ${spawnError.message}`;
    if (child.exitCode !== null) return `exited with ${child.exitCode}`;
    if (child.signalCode !== null) return `killed by ${child.signalCode}`;
    return undefined;
  };
  const logTail = (lines = 20): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log written)';
    }
  };
  const terminate = async (graceMs = 10_000): Promise<void> => {
    if (ended() !== undefined) return;
    child.kill('SIGTERM');
    // Unref'd: a timer still pending after a prompt exit must not hold the bench process open.
    const killed = await Promise.race([exited.then(() => false), sleep(graceMs, true, { ref: false })]);
    if (killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return { child, commandLine: [command, ...args].join(' '), logFile, ended, terminate, logTail };
}

function canConnect(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The log line most likely to say why a daemon died: the last one naming an error, else the last one. */
function likelyCause(tail: string): string {
  const lines = tail.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.findLast((l) => /error|fatal|fail/i.test(l)) ?? lines.at(-1) ?? 'no log output';
}

/** Wait until the daemon accepts connections on its unix socket; fail early, with its log, if it exits. */
export async function waitForSocket(daemon: DaemonProcess, socket: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ended = daemon.ended();
    if (ended !== undefined) {
      const tail = daemon.logTail();
      throw new Error(`${daemon.commandLine}: ${ended} before listening on ${socket}: ${likelyCause(tail)}\n` +
        `log ${daemon.logFile}:\n${tail}`);
    }
    if (await canConnect(socket)) return;
    await sleep(50);
  }
  throw new Error(`${daemon.commandLine}: did not listen on ${socket} within ${timeoutMs} ms; ` +
    `log ${daemon.logFile}:\n${daemon.logTail()}`);
}
