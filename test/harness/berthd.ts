import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import type { BerthConfig } from '../../config/types.js';
import { connectCri, type CriClients, type ImageClient, type RuntimeClient } from '../../proto/cri-client.js';

/**
 * Runs the real, built berthd (dist/daemon/main.js) in a private temp directory and hands out typed CRI
 * clients. Every e2e test that needs a daemon goes through here, so start-up, readiness and clean-up are
 * done one way. It builds nothing: `npm run build` must have run (bash .ci/setup test does).
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const BERTHD_MAIN = join(REPO, 'dist/daemon/main.js');
const STOP_TIMEOUT_MS = 15_000;
/** The client usually dials before the daemon listens; grpc-js would otherwise back off a whole second. */
const FAST_RECONNECT = { 'grpc.initial_reconnect_backoff_ms': 20, 'grpc.max_reconnect_backoff_ms': 100 };

type DeepPartial<T> = { [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };
/** Keys to put in the test's config file on top of the harness's per-test paths. */
export type ConfigOverrides = DeepPartial<BerthConfig>;

export interface StartOptions {
  config?: ConfigOverrides;
  /** Extra environment for the daemon (PATH for a fake runtime, ...). */
  env?: Record<string, string>;
  /** How long to wait for the socket to answer Version. */
  readyTimeoutMs?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface BerthdHandle {
  /** The test's private directory; root, state, socket and the log live inside it. */
  readonly dir: string;
  readonly root: string;
  readonly state: string;
  readonly socket: string;
  readonly configPath: string;
  /** berthd's stdout and stderr (pino JSON lines), across restarts. */
  readonly logPath: string;
  /** The daemon's pid; changes on restart. */
  readonly pid: number;
  /** Clients on the current daemon; replaced by restart(). */
  readonly runtime: RuntimeClient;
  readonly image: ImageClient;
  /** SIGTERM (or `signal`) and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<ExitInfo>;
  /** SIGKILL and wait for exit: a crash, as far as the next start can tell. */
  kill(): Promise<ExitInfo>;
  /** Stops the daemon if it runs (SIGTERM), then starts it again on the same directories and config. */
  restart(): Promise<void>;
  /** The daemon's output so far, for failure messages. */
  logs(): string;
  /** Stops the daemon if it still runs (SIGTERM) and removes the directory (kept when BERTH_KEEP_TEST_DIRS=1). */
  cleanup(): Promise<void>;
}

/** A fresh /var/tmp/berth-test-XXXXXX directory; short so socket paths stay under the 108-byte limit. */
export function makeTestDir(): Promise<string> {
  return mkdtemp('/var/tmp/berth-test-');
}

/** The config a harness daemon runs with: everything in `dir`, debug logs, no CNI config (tests add one). */
export function testConfig(dir: string, overrides: ConfigOverrides = {}): ConfigOverrides {
  const base: ConfigOverrides = {
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    grpc: { address: join(dir, 'berth.sock') },
    log: { level: 'debug' },
    cri: { cni: { conf_dir: join(dir, 'cni/net.d') }, registry: { config_path: join(dir, 'certs.d') } },
  };
  return deepMerge(base, overrides);
}

function deepMerge<T extends object>(base: T, over: object): T {
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const bothTables =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null && !Array.isArray(current);
    out[key] = bothTables ? deepMerge(current, value) : value;
  }
  return out as T;
}

const SOURCE_DIRS = ['daemon', 'config', 'proto', 'shim', 'snapshotter'];
let staleChecked = false;

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Fails when dist is missing; warns once when a source file is newer than the build (the test would run old code). */
export function assertBuilt(): void {
  if (!existsSync(BERTHD_MAIN)) {
    throw new Error(`${BERTHD_MAIN} is missing: run \`npm run build\` before the e2e tests (bash .ci/setup test does)`);
  }
  if (staleChecked) return;
  staleChecked = true;
  const built = statSync(BERTHD_MAIN).mtimeMs;
  const newest = Math.max(...SOURCE_DIRS.map((dir) => newestSource(join(REPO, dir))));
  if (newest > built) console.warn('berth test harness: sources are newer than dist/; run `npm run build` to test the current code');
}

function spawnDaemon(args: string[], logPath: string, env: Record<string, string> | undefined): ChildProcess {
  const log = openSync(logPath, 'a');
  try {
    // The log is a file, not a pipe, so a chatty daemon never blocks on a full pipe and the log survives us.
    return spawn(process.execPath, [BERTHD_MAIN, ...args], { stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  } finally {
    closeSync(log);
  }
}

function exited(child: ChildProcess): Promise<ExitInfo> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

async function waitReady(child: ChildProcess, clients: CriClients, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: ExitInfo | undefined;
  void exited(child).then((info) => (exit = info));
  for (;;) {
    if (exit !== undefined) {
      throw new Error(`berthd exited (code ${exit.code}, signal ${exit.signal}) before serving:\n${logs()}`);
    }
    try {
      await clients.runtime.Version({}, { timeoutMs: 500 });
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`berthd did not answer Version within ${timeoutMs} ms (${String(err)}):\n${logs()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts berthd on a fresh temp directory and waits until it serves. */
export async function startBerthd(options: StartOptions = {}): Promise<BerthdHandle> {
  assertBuilt();
  const dir = await makeTestDir();
  const config = testConfig(dir, options.config);
  const configPath = join(dir, 'config.toml');
  const logPath = join(dir, 'berthd.log');
  await writeFile(configPath, stringify(config));
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const logs = (): string => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');

  let child: ChildProcess | undefined;
  let clients: CriClients | undefined;

  const launch = async (): Promise<void> => {
    child = spawnDaemon(['--config', configPath], logPath, options.env);
    clients = connectCri(config.grpc?.address as string, FAST_RECONNECT);
    try {
      await waitReady(child, clients, readyTimeoutMs, logs);
    } catch (err) {
      await halt('SIGKILL');
      throw err;
    }
  };

  const halt = async (signal: NodeJS.Signals): Promise<ExitInfo> => {
    clients?.close();
    clients = undefined;
    if (child === undefined) return { code: null, signal: null };
    const running = child;
    child = undefined;
    const done = exited(running);
    running.kill(signal);
    // A daemon that ignores SIGTERM must not hang the test file; the caller sees signal SIGKILL and fails.
    const escalate = setTimeout(() => running.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const info = await done;
    clearTimeout(escalate);
    return info;
  };

  const current = (): CriClients => {
    if (clients === undefined) throw new Error('berthd is not running (stopped, killed, or never started)');
    return clients;
  };

  try {
    await launch();
  } catch (err) {
    if (process.env['BERTH_KEEP_TEST_DIRS'] !== '1') await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    dir,
    root: config.root as string,
    state: config.state as string,
    socket: config.grpc?.address as string,
    configPath,
    logPath,
    get pid() {
      if (child?.pid === undefined) throw new Error('berthd is not running');
      return child.pid;
    },
    get runtime() {
      return current().runtime;
    },
    get image() {
      return current().image;
    },
    stop: (signal = 'SIGTERM') => halt(signal),
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM');
      await launch();
    },
    logs,
    cleanup: async () => {
      await halt('SIGTERM');
      // A daemon stopped cleanly shuts its spare shims down; one killed leaves them for its successor to adopt.
      killSpareShims(join(config.state as string, 'spares'));
      if (process.env['BERTH_KEEP_TEST_DIRS'] !== '1') await rm(dir, { recursive: true, force: true });
    },
  };
}

/** SIGKILLs the idle spare shims listening in `dir` (a taken one has moved its socket into a bundle). */
function killSpareShims(dir: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // ended between readdir and read
    }
    const socket = argv[argv.indexOf('--socket') + 1];
    if (!argv.includes('--socket') || socket?.startsWith(`${dir}/spare-`) !== true || !existsSync(socket)) continue;
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `berthd ARGS...` to completion (config commands, or a start expected to fail). */
export function runBerthd(args: string[], timeoutMs = 20_000): Promise<CommandResult> {
  assertBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BERTHD_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berthd ${args.join(' ')} did not finish within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
