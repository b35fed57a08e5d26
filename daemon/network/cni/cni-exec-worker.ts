/**
 * The body of the thread that runs CNI plugins, started from its source text like the namespace worker
 * (daemon/linux/namespace-worker.ts says why), so it captures nothing from module scope.
 *
 * Why a thread: node's spawn() forks and then waits, on the calling thread, until the child has exec'd. Under
 * load that is several milliseconds per plugin, and a pod start and a pod stop each run at least one plugin:
 * measured with --cpu-prof during 20-pod batches, CNI spawns held berthd's main thread for ~2 s of a 26 s run,
 * time in which no gRPC call (kubelet's List polls included) was answered. Here they hold only this thread.
 */

// Types only: erased from the compiled source, so the worker body still captures nothing.
import type { CloseRequest, WorkerMain } from '../../linux/request-worker.js';

export interface PluginRun {
  seq: number;
  binary: string;
  env: NodeJS.ProcessEnv;
  stdin: string;
  timeoutMs: number;
}

export type PluginRunRequest = PluginRun | CloseRequest;

export type PluginRunReply =
  | { seq: number; spawnError: string }
  | { seq: number; status: number | null; signal: string | null; timedOut: boolean; stdout: string; stderr: string };

export const cniExecWorkerMain: WorkerMain = (require) => {
  const { parentPort } = require('node:worker_threads') as typeof import('node:worker_threads');
  const { spawn } = require('node:child_process') as typeof import('node:child_process');

  parentPort!.on('message', (message: PluginRunRequest) => {
    if ('close' in message) process.exit(0);
    const run = message as PluginRun;
    let replied = false;
    // A failed spawn can emit both 'error' and 'close'; the first one answers.
    const reply = (r: PluginRunReply): void => {
      if (!replied) parentPort!.postMessage(r);
      replied = true;
    };
    const child = spawn(run.binary, [], { env: run.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, run.timeoutMs);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      reply({ seq: run.seq, spawnError: err.message });
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      reply({
        seq: run.seq,
        status,
        signal,
        timedOut,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
    // A plugin that exits without reading stdin makes the write fail with EPIPE; its exit status tells the story.
    child.stdin.on('error', () => undefined);
    child.stdin.end(run.stdin);
  });
};
