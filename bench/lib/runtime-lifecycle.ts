import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnDaemon, waitForSocket, type DaemonProcess } from './daemon-process.js';
import { killTrees, processesNaming } from './processes.js';
import { unmountUnder } from './mounts.js';
import type { RunningRuntime } from './runtime-under-test.js';

/**
 * Stop a runtime daemon started by a bench and leave nothing behind: its shims (which outlive the daemon by
 * design) and their containers, every mount under its temp dir, and the dir itself. A shim is recognised as
 * ours when its argv mentions the temp dir, which holds the daemon's socket and state.
 */
async function teardownRuntime(daemon: DaemonProcess, dir: string): Promise<void> {
  await daemon.terminate();
  const ours = await processesNaming(dir);
  await killTrees(ours.map((p) => p.pid));
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Start a runtime daemon whose config already sits in dir and wait for its socket. On failure everything is torn
 * down and the error carries the daemon's log tail.
 */
export async function launchRuntime(dir: string, socket: string, command: string, args: string[], logName: string):
  Promise<RunningRuntime> {
  const logFile = join(dir, logName);
  const daemon = spawnDaemon(command, args, logFile);
  const stop = (): Promise<void> => teardownRuntime(daemon, dir);
  try {
    await waitForSocket(daemon, socket);
  } catch (err) {
    await stop();
    throw err;
  }
  return { socket, pid: daemon.child.pid as number, endpoint: `unix://${socket}`, dir, logFile, stop };
}
