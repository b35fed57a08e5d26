/**
 * berth-shim against real runc with a busybox rootfs: logs in CRI format, exit status on disk, exec with timeout
 * and output cap, kill, stats, log reopen, delete, detachment from its starter, and the loss of the shim itself.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectShim, readExitStatus, ShimClient, SpareShims, spawnShim, startShim } from '../../shim/client.js';
import { isShimError } from '../../shim/errors.js';
import { bundlePaths, encodeFrame, FrameReader } from '../../shim/protocol.js';
import { removeParentCgroup, writeBusyboxBundle, type BundleOptions } from '../fixtures/busybox-bundle.js';

const repo = path.resolve(import.meta.dirname, '../..');
const NS = 'k8s.io';
let state = '';
let runcRoot = '';
const started: Array<{ id: string; bundle: string }> = [];

beforeAll(() => {
  // The shim runs as a separate node process from dist/; build just the shim so this file tests the sources.
  execFileSync('npx', ['tsc', '-p', 'shim/tsconfig.json'], { cwd: repo, stdio: 'inherit' });
  state = fs.mkdtempSync('/var/tmp/berth-shim-test-');
  runcRoot = path.join(state, 'runc', NS);
});

afterAll(() => {
  for (const { id, bundle } of started) {
    // Best effort: a test that passed has already deleted its container.
    try { execFileSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' }); } catch { /* already gone */ }
    const pid = pidFrom(bundlePaths(bundle).shimPid);
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
  }
  fs.rmSync(state, { recursive: true, force: true });
  removeParentCgroup('berth-test');
});

function pidFrom(file: string): number {
  try {
    return Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Field `name` of /proc/<pid>/stat (after the command, so a space in comm cannot shift it). */
function procStat(pid: number, field: 'ppid' | 'pgrp' | 'session'): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[{ ppid: 1, pgrp: 2, session: 3 }[field]]);
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function newBundle(id: string, opts: BundleOptions): { bundle: string; logPath: string } {
  const bundle = path.join(state, NS, id);
  writeBusyboxBundle(bundle, id, opts);
  started.push({ id, bundle });
  return { bundle, logPath: path.join(bundle, 'container.log') };
}

/** Creates and starts a container; `exits` collects its exit events from before the start on. */
async function run(id: string, opts: BundleOptions): Promise<{ client: ShimClient; bundle: string; logPath: string; exits: number[] }> {
  const { bundle, logPath } = newBundle(id, opts);
  const client = await startShim({ bundle, id, namespace: NS, runtime: 'runc', runtimeArgs: [], runcRoot, logPath, stdin: false, tty: false });
  const exits: number[] = [];
  client.onExit((_id, e) => exits.push(e.exitCode));
  await client.start();
  return { client, bundle, logPath, exits };
}

function logEntries(file: string): Array<{ ts: string; stream: string; tag: string; text: string }> {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const m = /^(\S+) (stdout|stderr) ([PF]) (.*)$/s.exec(l);
    if (m === null) throw new Error(`not a CRI log line: ${l.slice(0, 80)}`);
    return { ts: m[1] ?? '', stream: m[2] ?? '', tag: m[3] ?? '', text: m[4] ?? '' };
  });
}

/** The memory limit runc set on the test cgroup /berth-test/<id> (v1 memory.limit_in_bytes, v2 memory.max). */
function memoryLimit(id: string): number {
  const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
  const file = v2 ? `/sys/fs/cgroup/berth-test/${id}/memory.max` : `/sys/fs/cgroup/memory/berth-test/${id}/memory.limit_in_bytes`;
  return Number(fs.readFileSync(file, 'utf8').trim());
}

function runcList(): string[] {
  const out = execFileSync('runc', ['--root', runcRoot, 'list', '-q'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '');
}

describe('berth-shim with runc', () => {
  it('writes stdout and stderr in CRI format, splits a 40 KiB line into P parts, records the exit', async () => {
    // /dev/stdout opens /proc/self/fd/1: that works on a pipe, not on a socket, so this checks the stdio kind too.
    const script = 'echo out > /dev/stdout; echo err >&2; head -c 40960 /dev/zero | tr "\\0" a; echo; printf tail; exit 3';
    const { client, bundle, logPath, exits } = await run('logs', { args: ['sh', '-c', script] });
    const exit = await client.wait();
    expect(exit).toMatchObject({ exitCode: 3, reason: 'Error', oomKilled: false });
    expect(exit.exitedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(readExitStatus(bundle)).toEqual(exit);
    const entries = logEntries(logPath);
    expect(entries.filter((e) => e.stream === 'stderr')).toMatchObject([{ tag: 'F', text: 'err' }]);
    const out = entries.filter((e) => e.stream === 'stdout');
    expect(out.map((e) => [e.tag, e.text.length])).toEqual([['F', 3], ['P', 16384], ['P', 16384], ['F', 8192], ['F', 4]]);
    expect(out[4]?.text).toBe('tail');
    expect(entries[0]?.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const st = await client.state();
    expect(st.status).toBe('stopped');
    expect(BigInt(st.startedAtNs ?? '0')).toBeLessThanOrEqual(BigInt(exit.exitedAtNs));
    expect(exits).toEqual([3]);
    const shimPid = client.info.shimPid;
    expect(await client.delete()).toEqual(exit);
    expect(runcList()).not.toContain('logs');
    await until('the shim to exit after delete', () => !alive(shimPid));
    expect(fs.existsSync(bundlePaths(bundle).socket)).toBe(false);
  });

  it('reports a clean exit as Completed', async () => {
    const { client } = await run('completed', { args: ['true'] });
    expect(await client.wait()).toMatchObject({ exitCode: 0, reason: 'Completed' });
    await client.delete();
  });

  it('runs several containers and execs at once, each exit reaped and reported to its own shim', async () => {
    const ids = ['many0', 'many1', 'many2', 'many3'];
    const clients = await Promise.all(ids.map((id, i) => run(id, { args: ['sh', '-c', `sleep 1.${i}; exit ${i + 10}`] })));
    const execs = await Promise.all(clients.map(({ client }, i) =>
      client.exec({ process: { args: ['sh', '-c', `echo e${i}; exit ${i}`], env: ['PATH=/bin'] }, timeoutMs: 10_000 })));
    expect(execs.map((e) => [e.exitCode, e.stdout.toString()])).toEqual([[0, 'e0\n'], [1, 'e1\n'], [2, 'e2\n'], [3, 'e3\n']]);
    const exits = await Promise.all(clients.map(({ client }) => client.wait()));
    expect(exits.map((e) => e.exitCode)).toEqual([10, 11, 12, 13]);
    await Promise.all(clients.map(({ client }) => client.delete()));
    expect(runcList().filter((id) => id.startsWith('many'))).toEqual([]);
  });

  it('execs with output and exit code, kills on timeout, caps output at 16 MiB', async () => {
    const { client } = await run('exec', { args: ['sleep', '600'] });
    const r = await client.exec({ process: { args: ['sh', '-c', 'echo hi; echo oops >&2; exit 4'], env: ['PATH=/bin'] }, timeoutMs: 10_000 });
    expect(r).toMatchObject({ exitCode: 4, timedOut: false, truncated: false });
    expect(r.stdout.toString()).toBe('hi\n');
    expect(r.stderr.toString()).toBe('oops\n');

    const t0 = Date.now();
    const slow = await client.exec({ process: { args: ['sleep', '30'], env: ['PATH=/bin'] }, timeoutMs: 300 });
    expect(slow).toMatchObject({ timedOut: true, exitCode: 137 });
    expect(Date.now() - t0).toBeLessThan(5_000);

    const big = await client.exec({ process: { args: ['sh', '-c', 'yes | head -c 20971520'], env: ['PATH=/bin'] }, timeoutMs: 30_000 });
    expect(big.truncated).toBe(true);
    expect(big.exitCode).toBe(0);
    expect(big.stdout.length).toBe(16 * 1024 * 1024);

    await client.kill('KILL');
    expect(await client.wait()).toMatchObject({ exitCode: 137, signal: 9, reason: 'Error' });
    await expect(client.exec({ process: { args: ['true'] }, timeoutMs: 0 })).rejects.toSatisfy((e) => isShimError(e, 'FailedPrecondition'));
    await client.delete();
  });

  it('streams execs: pipes with stdin, and a terminal with resize', async () => {
    const { client } = await run('execstream', { args: ['sleep', '600'] });
    const out = new Map<string, string>();
    const exits = new Map<string, number>();
    client.onOutput((stream, data, execId) => {
      if (execId !== undefined) out.set(execId, `${out.get(execId) ?? ''}${stream}:${data.toString()}`);
    });
    client.onExecExit((execId, code) => exits.set(execId, code));

    await client.execStart({ execId: 'p1', process: { args: ['sh', '-c', 'cat; echo bye >&2; exit 3'], env: ['PATH=/bin'] }, stdin: true, tty: false });
    await client.input(Buffer.from('piped\n'), true, 'p1');
    await until('the pipe exec to exit', () => exits.has('p1'));
    expect(exits.get('p1')).toBe(3);
    expect(out.get('p1')).toBe('stdout:piped\nstderr:bye\n');

    await client.execStart({ execId: 't1', process: { args: ['sh', '-c', 'read x; stty size; echo got:$x'], env: ['PATH=/bin'] }, stdin: true, tty: true });
    await client.resize(120, 40, 't1');
    await client.input(Buffer.from('typed\n'), false, 't1');
    await until('the tty exec to exit', () => exits.has('t1'));
    expect(exits.get('t1')).toBe(0);
    expect(out.get('t1')).toContain('40 120');
    expect(out.get('t1')).toContain('got:typed');
    await expect(client.input(Buffer.from('late'), false, 't1')).rejects.toSatisfy((e) => isShimError(e, 'FailedPrecondition'));

    await client.kill('KILL');
    await client.wait();
    await client.delete();
  });

  it('delivers SIGTERM, reads stats, reopens the log after rotation', async () => {
    const script = 'trap "echo got-term; exit 7" TERM; while true; do echo tick; sleep 0.1; done';
    const { client, logPath } = await run('signals', { args: ['sh', '-c', script] });
    await client.update({ memory: { limit: 96 * 1024 * 1024 } });
    expect(memoryLimit('signals')).toBe(96 * 1024 * 1024);
    const s = await client.stats();
    expect(BigInt(s.cpuUsageNs)).toBeGreaterThan(0n);
    expect(s.memoryUsageBytes).toBeGreaterThan(0);
    expect(s.memoryWorkingSetBytes).toBeLessThanOrEqual(s.memoryUsageBytes);
    expect(s.pids).toBeGreaterThanOrEqual(1);

    await until('a first tick', () => fs.existsSync(logPath) && fs.readFileSync(logPath, 'utf8').includes('tick'));
    fs.renameSync(logPath, `${logPath}.1`);
    await client.reopenLog();
    await until('a tick in the reopened log', () => fs.existsSync(logPath) && fs.readFileSync(logPath, 'utf8').includes('tick'));

    await client.kill('SIGTERM');
    expect(await client.wait()).toMatchObject({ exitCode: 7, reason: 'Error' });
    expect(logEntries(logPath).at(-1)).toMatchObject({ stream: 'stdout', tag: 'F', text: 'got-term' });
    await client.delete();
  });

  it('records OOMKilled when the memory cgroup killed the init', async () => {
    const { client } = await run('oom', {
      args: ['sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo survived'],
      resources: { memory: { limit: 16 * 1024 * 1024 } },
    });
    expect(await client.wait()).toMatchObject({ exitCode: 137, reason: 'OOMKilled', oomKilled: true });
    await client.delete();
  });

  it('runs detached: the container outlives the process that started it, and a new client reconnects', async () => {
    const { bundle, logPath } = newBundle('detached', { args: ['sleep', '600'] });
    const starter = `
      import { startShim } from ${JSON.stringify(path.join(repo, 'dist/shim/client.js'))};
      const c = await startShim(${JSON.stringify({ bundle, id: 'detached', namespace: NS, runtime: 'runc', runtimeArgs: [], runcRoot, logPath, stdin: false, tty: false })});
      await c.start();
      process.stdout.write('started\\n');
      setInterval(() => {}, 1e9);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', starter], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('started')) resolve(); });
      child.once('exit', (code) => reject(new Error(`starter exited with ${code}`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const shimPid = pidFrom(bundlePaths(bundle).shimPid);
    expect(alive(shimPid)).toBe(true);
    expect(procStat(shimPid, 'session')).toBe(shimPid);
    expect(procStat(shimPid, 'session')).not.toBe(procStat(process.pid, 'session'));

    const client = await connectShim(bundle);
    expect(client.info).toMatchObject({ shimPid, id: 'detached', bundle });
    const st = await client.state();
    expect(st.status).toBe('running');
    expect(alive(st.pid)).toBe(true);
    expect(procStat(st.pid, 'ppid')).toBe(shimPid);
    await client.kill('KILL');
    await client.wait();
    await client.delete();
  });

  it('keeps the exit status when the daemon is away, until a delete collects it', async () => {
    const { client, bundle } = await run('collect', { args: ['sh', '-c', 'sleep 0.3; exit 9'] });
    client.close();
    await until('exit.json', () => readExitStatus(bundle) !== null);
    const again = await connectShim(bundle);
    expect((await again.state()).exit).toMatchObject({ exitCode: 9 });
    expect(await again.wait()).toMatchObject({ exitCode: 9 });
    await again.delete();
  });

  it('leaves the container running when the shim is killed, re-parented away from the shim', async () => {
    const { client, bundle } = await run('orphan', { args: ['sleep', '600'] });
    const { pid } = await client.state();
    const shimPid = client.info.shimPid;
    process.kill(shimPid, 'SIGKILL');
    await until('the shim to die', () => !alive(shimPid));
    expect(alive(pid)).toBe(true);
    expect(procStat(pid, 'ppid')).not.toBe(shimPid);
    await expect(connectShim(bundle)).rejects.toSatisfy((e) => isShimError(e, 'Unavailable'));
    expect(readExitStatus(bundle)).toBeNull();
    // What berthd does on finding a dead shim with a live container: kill and delete it through runc.
    execFileSync('runc', ['--root', runcRoot, 'delete', '--force', 'orphan']);
    await until('the orphaned init to die', () => !alive(pid) || fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'));
    expect(runcList()).not.toContain('orphan');
  });

  it('runs a tty container: output over attach and into the log, stdin input, terminal resize', async () => {
    const { bundle, logPath } = newBundle('tty', { args: ['sh', '-c', 'echo hello-tty; read x; stty size; echo got:$x; exit 4'], terminal: true });
    const client = await startShim({ bundle, id: 'tty', namespace: NS, runtime: 'runc', runtimeArgs: [], runcRoot, logPath, stdin: true, tty: true });
    let seen = '';
    client.onOutput((stream, data) => { seen += `${stream}:${data.toString()}`; });
    await client.attach();
    await client.start();
    await until('the greeting over attach', () => seen.includes('stdout:hello-tty'));
    await client.resize(100, 30);
    await client.input(Buffer.from('abc\n'));
    expect(await client.wait()).toMatchObject({ exitCode: 4 });
    const text = logEntries(logPath).map((e) => `${e.stream} ${e.text}`).join('\n');
    expect(text).toContain('stdout hello-tty');
    expect(text).toContain('stdout 30 100');
    expect(text).toContain('stdout got:abc');
    await client.delete();
  });

  it('feeds stdin through a pipe and closes it on request', async () => {
    const { bundle, logPath } = newBundle('stdin', { args: ['cat'] });
    const client = await startShim({ bundle, id: 'stdin', namespace: NS, runtime: 'runc', runtimeArgs: [], runcRoot, logPath, stdin: true, tty: false });
    await client.start();
    await client.input(Buffer.from('line one\nline two'), true);
    expect(await client.wait()).toMatchObject({ exitCode: 0 });
    expect(logEntries(logPath)).toMatchObject([{ stream: 'stdout', tag: 'F', text: 'line one' }, { stream: 'stdout', tag: 'F', text: 'line two' }]);
    await client.delete();
  });

  it('reports a failed runc create with the runtime error', async () => {
    const { bundle, logPath } = newBundle('badcreate', { args: ['/no/such/binary'] });
    fs.rmSync(path.join(bundle, 'rootfs', 'bin'), { recursive: true });
    const err = await startShim({ bundle, id: 'badcreate', namespace: NS, runtime: 'runc', runtimeArgs: [], runcRoot, logPath, stdin: false, tty: false })
      .then(async (c) => c.start()).catch((e: unknown) => e);
    expect(isShimError(err, 'RuntimeFailed')).toBe(true);
    expect((err as Error).message).toMatch(/no such file|not found/i);
  });

  it('hands out pre-started spare shims that adopt a bundle, its socket and their log', async () => {
    const dir = path.join(state, 'spares');
    const refillErrors: unknown[] = [];
    const pool = await SpareShims.open(dir, { onRefillError: (e) => refillErrors.push(e) });
    let reopened: SpareShims | undefined;
    try {
      const sockets = (): string[] => fs.readdirSync(dir).filter((n) => n.endsWith('.sock'));
      await until('a spare', () => sockets().length === 1);
      const { bundle, logPath } = newBundle('spare', { args: ['sh', '-c', 'echo from-spare'] });
      const client = await startShim({ bundle, id: 'spare', namespace: NS, runtime: 'runc', runtimeArgs: [], runcRoot, logPath, stdin: false, tty: false, spares: pool });
      expect(fs.existsSync(bundlePaths(bundle).socket)).toBe(true);
      expect(fs.existsSync(bundlePaths(bundle).shimLog)).toBe(true);
      expect(pidFrom(bundlePaths(bundle).shimPid)).toBe(client.info.shimPid);
      await client.start();
      expect(await client.wait()).toMatchObject({ exitCode: 0 });
      expect(logEntries(logPath)).toMatchObject([{ stream: 'stdout', tag: 'F', text: 'from-spare' }]);
      const takenPid = client.info.shimPid;
      await client.delete();
      // Whether take() got the first spare or (when it asked before the pool had connected to it) a shim of its
      // own, the pool is back to exactly one waiting spare, and the taken shim is gone.
      await until('the pool to refill', () => sockets().length === 1 && !alive(takenPid));
      await pool.close();
      await until('the spare to shut down', () => sockets().length === 0);

      // A spare left by a previous daemon is adopted, not duplicated.
      const leftover = await spawnShim({ socket: path.join(dir, 'spare-old.sock'), logFile: null });
      reopened = await SpareShims.open(dir, { onRefillError: (e) => refillErrors.push(e) });
      const adopted = await reopened.take();
      expect(adopted.info.shimPid).toBe(leftover);
      await adopted.shutdown();
      expect(refillErrors).toEqual([]);
    } finally {
      // Also when an expectation failed: an open pool leaves a spare shim running.
      await pool.close();
      await reopened?.close();
    }
  });

  it('gives back what a burst of output took once it goes quiet (heap trimmer, no V8 flags)', async () => {
    // Without the trimmer such a shim keeps ~8 MiB more for good (docs/ARCHITECTURE.md, "Footprint").
    const { client, bundle } = await run('trim', { args: ['sh', '-c', 'yes berth | head -c 33554432; exec sleep 1000'] });
    const shimPid = client.info.shimPid;
    const privateKiB = (): number => {
      const t = fs.readFileSync(`/proc/${shimPid}/smaps_rollup`, 'utf8');
      const f = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? NaN);
      return f('Private_Clean') + f('Private_Dirty');
    };
    expect(fs.readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').split('\0').filter((a) => a.startsWith('--') && a !== '--socket' && a !== '--ready-fd')).toEqual(['--v8-pool-size=1']);
    // 32 MiB of 6-byte lines make ~245 MiB of CRI log; the peak is taken while they flow.
    const log = path.join(bundle, 'container.log');
    let peak = 0;
    let lastSize = -1;
    let stableSince = Date.now();
    await until('the output to end', () => {
      peak = Math.max(peak, privateKiB());
      const size = fs.statSync(log).size;
      if (size !== lastSize) stableSince = Date.now();
      lastSize = size;
      return size > 240 * 1024 * 1024 && Date.now() - stableSince > 300;
    }, 30_000);
    // 5 s of quiet, then the collection and malloc_trim.
    await until('the shim to give memory back', () => privateKiB() < peak - 2048, 30_000);
    await client.kill('KILL');
    await client.wait();
    await client.delete();
    client.close();
  }, 60_000);

  it('speaks a versioned protocol: hello first, matching version only', async () => {
    const sock = path.join(state, 'proto.sock');
    const pid = await spawnShim({ socket: sock, logFile: null });
    const raw = net.connect(sock);
    const reader = new FrameReader();
    const replies: unknown[] = [];
    raw.on('data', (d: Buffer) => replies.push(...reader.push(d)));
    raw.write(encodeFrame({ id: 1, method: 'state', params: {} }));
    raw.write(encodeFrame({ id: 2, method: 'hello', params: { version: 99 } }));
    raw.write(encodeFrame({ id: 3, method: 'hello', params: { version: 1 } }));
    raw.write(encodeFrame({ id: 4, method: 'shutdown', params: {} }));
    await until('four replies', () => replies.length === 4);
    expect(replies).toMatchObject([
      { id: 1, error: { code: 'ProtocolError' } },
      { id: 2, error: { code: 'Unsupported' } },
      { id: 3, result: { version: 1, shimPid: pid } },
      { id: 4, result: { ok: true } },
    ]);
    await until('the shim to exit after shutdown', () => !alive(pid));
    raw.destroy();
  });
});
