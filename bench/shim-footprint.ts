/**
 * berth-shim footprint: start time (spawn until the socket is ready), the CPU a shim spends booting and in its
 * first create (runc's own CPU not included), and proportional set size (PSS, from
 * /proc/<pid>/smaps_rollup) of N shims running side by side, against N idle bare node processes. Side by side
 * matters: node's text pages are shared, and PSS splits them among the processes mapping them, as on a node
 * running many containers. Run as root after `npm run build`:
 *   node dist/bench/shim-footprint.js [count] [extra node flags for one more CommonJS variant]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { defaultShimPath, SHIM_NODE_FLAGS, ShimClient, spawnShim } from '../shim/client.js';
import { removeParentCgroup, writeBusyboxBundle } from '../test/fixtures/busybox-bundle.js';
import { median } from './lib/stats.js';

const count = Number(process.argv[2] ?? 10);

/** PSS and USS (private clean + dirty) in KiB: PSS is what a node pays with shared pages split among their
 * users; USS is what one more process adds, and does not drift with whatever else runs node on the machine. */
function memKiB(pid: number): { pss: number; uss: number } {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { pss: field('Pss'), uss: field('Private_Clean') + field('Private_Dirty') };
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const MiB = (kib: number): string => (kib / 1024).toFixed(1);

interface Sample { pss: number; uss: number }

function summarize(samples: Sample[]): Sample {
  return { pss: median(samples.map((s) => s.pss)), uss: median(samples.map((s) => s.uss)) };
}

async function bareNodes(): Promise<Sample> {
  const kids: ChildProcess[] = [];
  // The environment shims get (PATH only): NODE_EXTRA_CA_CERTS alone would cost a bare node ~1 MiB of parsed certificates.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (let i = 0; i < count; i++) kids.push(spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore', env }));
  await settle(3000);
  const r = summarize(kids.map((k) => memKiB(k.pid as number)));
  for (const k of kids) k.kill('SIGKILL');
  return r;
}

interface ShimRun { startMs: number; bootCpuMs: number; createCpuMs: number; idle: Sample; busy: Sample; settled: Sample }

/** CPU time of all the process's threads so far, in ms (nanoseconds from schedstat; /proc/<pid>/stat counts
 * in 10 ms ticks). */
function cpuMs(pid: number): number {
  const tasks = fs.readdirSync(`/proc/${pid}/task`);
  return tasks.reduce((sum, t) => sum + Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]), 0) / 1e6;
}

/**
 * `count` shims: spawn-to-ready time, memory when idle (spare, no container), then memory after each ran a
 * container that logged 32 MiB and served an exec with 1 MiB of output and a stats call: 3 s after, and again
 * once the shim has been quiet for 30 s (its heap trimmer and V8's memory reducer have run by then).
 */
async function shims(dir: string, flags: readonly string[], shimPath: string): Promise<ShimRun> {
  const pids: number[] = [];
  const startMs: number[] = [];
  const bootCpuMs: number[] = [];
  const createCpuMs: number[] = [];
  const clients: ShimClient[] = [];
  for (let i = 0; i < count; i++) {
    const socket = path.join(dir, `spare-${i}.sock`);
    const t0 = process.hrtime.bigint();
    const pid = await spawnShim({ socket, logFile: null, nodeFlags: flags, shimPath });
    startMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
    bootCpuMs.push(cpuMs(pid));
    pids.push(pid);
    clients.push(await ShimClient.connect(socket));
  }
  await settle(1000);
  const idle = summarize(pids.map(memKiB));
  const script = 'yes berth | head -c 33554432; while true; do sleep 1; done';
  for (const [i, c] of clients.entries()) {
    const id = `fp${i}`;
    const bundle = path.join(dir, 'k8s.io', id);
    writeBusyboxBundle(bundle, id, { args: ['sh', '-c', script], cgroupsPath: `/berth-bench/${path.basename(dir)}-${id}` });
    const before = cpuMs(c.info.shimPid);
    await c.create({ bundle, id, namespace: 'k8s.io', runtime: { binary: 'runc', args: [], root: path.join(dir, 'runc') }, logPath: path.join(bundle, 'ctr.log'), stdin: false, tty: false });
    createCpuMs.push(cpuMs(c.info.shimPid) - before);
    await c.start();
    await c.exec({ process: { args: ['head', '-c', '1048576', '/dev/zero'], env: ['PATH=/bin'] }, timeoutMs: 10_000 });
    await c.stats();
  }
  await settle(3000);
  const busy = summarize(pids.map(memKiB));
  await settle(30_000);
  const settled = summarize(pids.map(memKiB));
  for (const c of clients) {
    await c.kill('KILL');
    await c.wait();
    await c.delete();
    c.close();
  }
  return { startMs: median(startMs), bootCpuMs: median(bootCpuMs), createCpuMs: median(createCpuMs), idle, busy, settled };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync('/var/tmp/berth-shim-footprint-');
  try {
    // The ESM build (dist/shim) beside the CommonJS one berthd starts (dist/shim-cjs), and the CommonJS build with
    // the V8 flags it once ran with (shim/client.ts, SHIM_NODE_FLAGS, says why they went).
    const esm = path.join(path.dirname(defaultShimPath()), '..', 'shim', 'main.js');
    const extra = process.argv.slice(3);
    const oldFlags = ['--max-semi-space-size=1', '--single-threaded', '--optimize-for-size'];
    const variants: Array<[string, readonly string[], string]> = [
      [`ESM, SHIM_NODE_FLAGS (${SHIM_NODE_FLAGS.join(' ')})`, SHIM_NODE_FLAGS, esm],
      ['CommonJS, no flags', [], defaultShimPath()],
      [`CommonJS, SHIM_NODE_FLAGS (${SHIM_NODE_FLAGS.join(' ')})`, SHIM_NODE_FLAGS, defaultShimPath()],
      [`CommonJS, ${oldFlags.join(' ')}`, oldFlags, defaultShimPath()],
      // More flags to try: `node dist/bench/shim-footprint.js 10 --jitless`.
      ...(extra.length > 0 ? [[`CommonJS, SHIM_NODE_FLAGS ${extra.join(' ')}`, [...SHIM_NODE_FLAGS, ...extra], defaultShimPath()] as [string, readonly string[], string]] : []),
    ];
    console.log(`${count} processes side by side, medians; CPU in ms; PSS / USS in MiB`);
    const bare = await bareNodes();
    console.log(`bare node -e 'setInterval(()=>{},1e9)': ${MiB(bare.pss)} / ${MiB(bare.uss)}`);
    for (const [name, flags, shimPath] of variants) {
      const r = await shims(fs.mkdtempSync(path.join(dir, 'v-')), flags, shimPath);
      console.log(`shim, ${name}: start ${r.startMs.toFixed(0)} ms, CPU ${r.bootCpuMs.toFixed(1)} + first create ${r.createCpuMs.toFixed(1)}; idle ${MiB(r.idle.pss)} / ${MiB(r.idle.uss)} ` +
        `(USS +${MiB(r.idle.uss - bare.uss)} over bare); after logs+exec ${MiB(r.busy.pss)} / ${MiB(r.busy.uss)}, 30 s later ${MiB(r.settled.pss)} / ${MiB(r.settled.uss)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    removeParentCgroup('berth-bench');
  }
}

void main().then(() => undefined, (err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
