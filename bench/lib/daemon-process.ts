import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A daemon started by a bench, with its output captured in a log file. */
export interface DaemonProcess {
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
  terminate(graceMs?: number): Promise<void>;
  /** The last lines of the log, for error messages. */
  logTail(lines?: number): string;
}

export function spawnDaemon(command: string, args: string[], logFile: string): DaemonProcess {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const logTail = (lines = 20): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log written)';
    }
  };
  const terminate = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return { child, logFile, terminate, logTail };
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

/** Wait until the daemon accepts connections on its unix socket; fail early, with its log, if it exits. */
export async function waitForSocket(daemon: DaemonProcess, socket: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`daemon exited (${daemon.child.exitCode ?? daemon.child.signalCode}) before listening on ` +
        `${socket}; log ${daemon.logFile}:\n${daemon.logTail()}`);
    }
    if (await canConnect(socket)) return;
    await sleep(50);
  }
  throw new Error(`daemon did not listen on ${socket} within ${timeoutMs} ms; log ${daemon.logFile}:\n${daemon.logTail()}`);
}
