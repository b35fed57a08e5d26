/**
 * Pod start: RunPodSandbox + CreateContainer + StartContainer through the CRI, sequentially and in batches
 * (20 pods 10 at a time), and the rest of the lifecycle (StopPodSandbox + RemovePodSandbox) of the same pods,
 * one by one and a batch at a time; ListContainers/ListPodSandbox latency with many containers; proportional set size
 * (PSS) of the shims and the daemon. Both runtimes run side by side and take turns, pod by pod and batch by
 * batch, so that the machine's drifting speed weighs on both alike. The same client, images, CNI bridge and
 * order of calls for containerd and for berth.
 *   npm run build && node dist/bench/pod-start.bench.js [--sequential 10] [--batch 20] [--parallel 10]
 *     [--rounds 3] [--containers-per-pod 3] [--list-calls 50] [--skip-berth] [--skip-containerd]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startBoth } from './lib/both-runtimes.js';
import { removeBridgeNetwork, writeBridgeConflist } from './lib/cni.js';
import { CriClient } from './lib/cri-client.js';
import { Lanes } from './lib/interleave.js';
import { unavailableNotes, valueOr } from './lib/outcome.js';
import { benchPod, sleeperContainer } from './lib/pod-specs.js';
import { cpuSeconds, hostCpuDuring, processesNaming, pssBytes } from './lib/processes.js';
import { startRegistry } from './lib/registry.js';
import { formatRatio, printTable, type ResultRow } from './lib/report.js';
import type { RunningRuntime, RuntimeOptions } from './lib/runtime-under-test.js';
import { runtimeCpuDuring, settle, settleHost } from './lib/runtime-cpu.js';
import type { PodSandboxConfig } from '../proto/gen/runtime/v1/PodSandboxConfig.js';
import { median, p90, timed } from './lib/stats.js';
import { buildBenchImages } from './lib/test-images.js';

const { values: args } = parseArgs({
  options: {
    sequential: { type: 'string', default: '10' },
    batch: { type: 'string', default: '20' },
    parallel: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'containers-per-pod': { type: 'string', default: '3' },
    'list-calls': { type: 'string', default: '50' },
    'skip-berth': { type: 'boolean', default: false },
    'skip-containerd': { type: 'boolean', default: false },
  },
});
const sequential = Number(args.sequential);
const batch = Number(args.batch);
const parallel = Number(args.parallel);
const rounds = Number(args.rounds);
const containersPerPod = Number(args['containers-per-pod']);
const listCalls = Number(args['list-calls']);
const MiB = 1024 * 1024;

interface Images {
  pause: string;
  busybox: string;
}

interface PodTiming {
  podId: string;
  config: PodSandboxConfig;
  run: number;
  create: number;
  start: number;
}

/** CPU seconds: busy time of the whole machine (see hostCpuDuring) and of the runtime alone (runtimeCpuDuring). */
interface CpuUse {
  host: number;
  runtime: number;
}

/** A sequential pod: its calls' times and the CPU it took. */
interface SequentialPod extends PodTiming {
  cpu: CpuUse;
}

/** One batch: wall time and per-pod time in ms, CPU per pod; then the wall time of stopping and removing it. */
interface BatchRound {
  wall: number;
  podTotals: number[];
  cpuPerPod: CpuUse;
  teardownWall: number;
}

/** Measured with every kept pod running, after the list calls. */
interface Footprint {
  shims: number;
  shimPss: number;
  daemonPss: number;
  /** CPU seconds the daemon used from its start until now. */
  daemonCpu: number;
  /** CPU seconds the shims running now have used. */
  shimCpu: number;
}

/** One runtime's numbers; times in ms, sizes in bytes. */
interface Measurements extends Footprint {
  sequential: SequentialPod[];
  rounds: BatchRound[];
  containers: number;
  listContainers: number[];
  listPodSandbox: number[];
  stopRemovePod: number[];
}

/** One runtime under test, with the pods it runs now. */
interface Side {
  runtime: RunningRuntime;
  client: CriClient;
  /** The sequential pods, which stay up to the end, so every batch meets the same node. */
  sequentialPods: PodTiming[];
  /** The batch being measured; each is removed before the next, and one last, untimed, is kept for the list phase. */
  batchPods: PodTiming[];
  m: Measurements;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function newSide(runtime: RunningRuntime): Side {
  return {
    runtime,
    client: new CriClient(runtime.socket),
    sequentialPods: [],
    batchPods: [],
    m: {
      sequential: [], rounds: [], containers: 0, listContainers: [], listPodSandbox: [], stopRemovePod: [],
      shims: 0, shimPss: 0, daemonPss: 0, daemonCpu: 0, shimCpu: 0,
    },
  };
}

/** One pod with one container, timed call by call, as a kubelet would start it. */
async function startPod(client: CriClient, name: string, images: Images, logRoot: string): Promise<PodTiming> {
  const pod = benchPod(name, logRoot);
  await mkdir(pod.log_directory as string, { recursive: true });
  const run = await timed(() => client.runPodSandbox(pod));
  const create = await timed(() => client.createContainer(run.value, sleeperContainer('c0', images.busybox), pod));
  const start = await timed(() => client.startContainer(create.value));
  return { podId: run.value, config: pod, run: run.ms, create: create.ms, start: start.ms };
}

async function stopRemovePod(client: CriClient, podId: string): Promise<void> {
  await client.stopPodSandbox(podId);
  await client.removePodSandbox(podId);
}

/**
 * Run fn over items with at most limit in flight, results in item order. After a failure no item starts and the
 * calls in flight are waited for before the first error is thrown: a failed runtime's batch must not still be
 * running while the other runtime is measured.
 */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const done = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failure = done.find((d): d is PromiseRejectedResult => d.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return results;
}

/**
 * Pulls are the pull bench's business: here both images are local before any clock starts. The warm-up pod
 * pays one-off costs (CNI plugin binaries into the page cache, first cgroup dirs).
 */
async function prepare(side: Side, images: Images, logRoot: string): Promise<void> {
  await side.client.waitReady();
  await side.client.pullImage(images.pause);
  await side.client.pullImage(images.busybox);
  const warm = await startPod(side.client, 'warmup', images, logRoot);
  await stopRemovePod(side.client, warm.podId);
  await settle(side.runtime);
}

/**
 * The CPU fn takes, counted until the runtime has settled: its after-work is billed to it, not to the next pod.
 * It starts on a quiet machine, so the kernel's after-work of the previous unit is not billed to it either.
 */
async function withCpu<T>(side: Side, fn: () => Promise<T>): Promise<{ value: T; cpu: CpuUse }> {
  await settleHost();
  const host = await hostCpuDuring(() => runtimeCpuDuring(side.runtime, async () => {
    const value = await fn();
    await settle(side.runtime);
    return value;
  }));
  return { value: host.value.value, cpu: { host: host.cpu, runtime: host.value.cpu } };
}

async function sequentialPod(side: Side, i: number, images: Images, logRoot: string): Promise<void> {
  const { value: pod, cpu } = await withCpu(side, () => startPod(side.client, `seq-${i}`, images, logRoot));
  side.sequentialPods.push(pod);
  side.m.sequential.push({ ...pod, cpu });
}

const batchNames = (prefix: string): string[] => Array.from({ length: batch }, (_, i) => `${prefix}-${i}`);

async function batchRound(side: Side, round: number, images: Images, logRoot: string): Promise<void> {
  const names = batchNames(`batch-${round}`);
  const { value: run, cpu } = await withCpu(side, () => timed(() => mapLimit(names, parallel, async (name) => {
    const t = await timed(() => startPod(side.client, name, images, logRoot));
    return { ...t.value, total: t.ms };
  })));
  side.batchPods = run.value;
  side.m.rounds.push({
    wall: run.ms,
    podTotals: run.value.map((t) => t.total),
    cpuPerPod: { host: cpu.host / batch, runtime: cpu.runtime / batch },
    teardownWall: NaN,
  });
}

/** The round's batch is stopped and removed as it was started, `parallel` at a time; the next round then meets
 * the same node as this one. */
async function batchTeardown(side: Side, round: number): Promise<void> {
  await settleHost();
  const run = await timed(() => mapLimit(side.batchPods, parallel, (pod) => stopRemovePod(side.client, pod.podId)));
  side.batchPods = [];
  (side.m.rounds[round] as BatchRound).teardownWall = run.ms;
  await settle(side.runtime);
}

/** Untimed: one more batch, which stays for the list phase beside the sequential pods. */
async function keepBatch(side: Side, images: Images, logRoot: string): Promise<void> {
  side.batchPods = await mapLimit(batchNames('kept'), parallel, (name) => startPod(side.client, name, images, logRoot));
  await settle(side.runtime);
}

function keptPods(side: Side): PodTiming[] {
  return [...side.sequentialPods, ...side.batchPods];
}

/** Untimed: more containers in every kept pod, so the list calls and the footprint see a loaded node. */
async function addContainers(side: Side, images: Images): Promise<void> {
  for (const pod of keptPods(side)) {
    for (let c = 1; c < containersPerPod; c++) {
      const id = await side.client.createContainer(pod.podId, sleeperContainer(`c${c}`, images.busybox), pod.config);
      await side.client.startContainer(id);
    }
  }
  side.m.containers = (await side.client.listContainers()).length;
  await settle(side.runtime);
}

async function listOnce(side: Side): Promise<void> {
  side.m.listContainers.push((await timed(() => side.client.listContainers())).ms);
  side.m.listPodSandbox.push((await timed(() => side.client.listPodSandbox())).ms);
}

/** Shims are the processes whose argv names the runtime's temp dir, other than the daemon itself. */
async function footprint(side: Side): Promise<void> {
  const { runtime } = side;
  const shims = (await processesNaming(runtime.dir)).filter((p) => p.pid !== runtime.pid);
  const measured: Footprint = {
    shims: shims.length,
    shimPss: sum(await Promise.all(shims.map((p) => pssBytes(p.pid)))),
    daemonPss: await pssBytes(runtime.pid),
    daemonCpu: await cpuSeconds(runtime.pid),
    shimCpu: sum(await Promise.all(shims.map((p) => cpuSeconds(p.pid)))),
  };
  Object.assign(side.m, measured);
}

async function teardownPod(side: Side, i: number): Promise<void> {
  const pod = keptPods(side)[i];
  if (pod !== undefined) side.m.stopRemovePod.push((await timed(() => stopRemovePod(side.client, pod.podId))).ms);
}

/** Every phase, the runtimes taking turns; untimed work between phases ends with both runtimes settled. */
async function runPhases(lanes: Lanes<Side>, images: Images, logRoot: string): Promise<void> {
  await lanes.each((s) => prepare(s, images, logRoot));
  for (let i = 0; i < sequential; i++) await lanes.alternate(i, (s) => sequentialPod(s, i, images, logRoot));
  for (let r = 0; r < rounds; r++) {
    await lanes.alternate(r, (s) => batchRound(s, r, images, logRoot));
    await lanes.alternate(r, (s) => batchTeardown(s, r));
  }
  await lanes.each((s) => keepBatch(s, images, logRoot));
  await lanes.each((s) => addContainers(s, images));
  for (let i = 0; i < listCalls; i++) await lanes.alternate(i, listOnce);
  await lanes.each(footprint);
  for (let i = 0; i < sequential + batch; i++) await lanes.alternate(i, (s) => teardownPod(s, i));
}

async function closeSide(side: Side): Promise<void> {
  // A failure here must not replace the error that got us here; runtime.stop kills whatever is left anyway.
  await side.client.removeAllPods().catch((err: unknown) => {
    process.stderr.write(`removing bench pods through the CRI failed (teardown kills them): ${String(err)}\n`);
  });
  side.client.close();
  await side.runtime.stop();
}

/** berth/containerd of a figure of each round, both runtimes' batches in that round being neighbours. */
function roundRatios(b: Measurements | undefined, c: Measurements | undefined, f: (r: BatchRound) => number = (r) => r.wall): number[] {
  if (b === undefined || c === undefined) return [];
  return b.rounds.map((r, i) => f(r) / f(c.rounds[i] as BatchRound));
}

const lifecycleWall = (r: BatchRound): number => r.wall + r.teardownWall;

function rows(b: Measurements | undefined, c: Measurements | undefined): ResultRow[] {
  const row = (metric: string, unit: string, f: (m: Measurements) => number): ResultRow =>
    ({ metric, unit, berth: b && f(b), containerd: c && f(c) });
  const seq = (f: (p: SequentialPod) => number) => (m: Measurements): number[] => m.sequential.map(f);
  const total = seq((p) => p.run + p.create + p.start);
  const ratios = roundRatios(b, c);
  const inBatch = `${batch} pods ${parallel} at a time`;
  return [
    row(`RunPodSandbox median (x${sequential} sequential)`, 'ms', (m) => median(seq((p) => p.run)(m))),
    row('CreateContainer median', 'ms', (m) => median(seq((p) => p.create)(m))),
    row('StartContainer median', 'ms', (m) => median(seq((p) => p.start)(m))),
    row('pod start total median', 'ms', (m) => median(total(m))),
    row('pod start total p90', 'ms', (m) => p90(total(m))),
    row('host CPU per sequential pod (median)', 'ms', (m) => median(seq((p) => p.cpu.host)(m)) * 1000),
    row('runtime CPU per sequential pod (median)', 'ms', (m) => median(seq((p) => p.cpu.runtime)(m)) * 1000),
    row(`${inBatch}: wall median (x${rounds} rounds)`, 'ms', (m) => median(m.rounds.map((r) => r.wall))),
    { metric: `${inBatch}: wall ratio, median of rounds`, unit: '', ratio: median(ratios) },
    row(`${inBatch}: per-pod median (all rounds)`, 'ms', (m) => median(m.rounds.flatMap((r) => r.podTotals))),
    row(`${inBatch}: per-pod p90 (all rounds)`, 'ms', (m) => p90(m.rounds.flatMap((r) => r.podTotals))),
    row(`${inBatch}: host CPU per pod (median of rounds)`, 'ms',
      (m) => median(m.rounds.map((r) => r.cpuPerPod.host)) * 1000),
    row(`${inBatch}: runtime CPU per pod (median of rounds)`, 'ms',
      (m) => median(m.rounds.map((r) => r.cpuPerPod.runtime)) * 1000),
    row(`${inBatch}: stop+remove wall median`, 'ms', (m) => median(m.rounds.map((r) => r.teardownWall))),
    row(`${inBatch}: full lifecycle wall median`, 'ms', (m) => median(m.rounds.map(lifecycleWall))),
    { metric: `${inBatch}: full lifecycle wall ratio, median of rounds`, unit: '', ratio: median(roundRatios(b, c, lifecycleWall)) },
    row('containers running', '', (m) => m.containers),
    row(`ListContainers median (x${listCalls})`, 'ms', (m) => median(m.listContainers)),
    row('ListContainers p90', 'ms', (m) => p90(m.listContainers)),
    row(`ListPodSandbox median (x${listCalls})`, 'ms', (m) => median(m.listPodSandbox)),
    row('ListPodSandbox p90', 'ms', (m) => p90(m.listPodSandbox)),
    row('shim processes', '', (m) => m.shims),
    row('shim PSS total', 'MiB', (m) => m.shimPss / MiB),
    row('shim PSS per container', 'MiB', (m) => m.shimPss / MiB / m.containers),
    row('daemon PSS', 'MiB', (m) => m.daemonPss / MiB),
    row('daemon CPU (start to loaded node)', 's', (m) => m.daemonCpu),
    row('shim CPU total (same span)', 's', (m) => m.shimCpu),
    row('StopPodSandbox+RemovePodSandbox median (one by one)', 'ms', (m) => median(m.stopRemovePod)),
    row('full lifecycle median (start total + stop/remove medians)', 'ms', (m) => median(total(m)) + median(m.stopRemovePod)),
  ];
}

function notes(b: Measurements | undefined, c: Measurements | undefined): string[] {
  const ratios = roundRatios(b, c);
  return [
    'containerd runs one shim per pod, berth one per container',
    ...(ratios.length > 0 ? [`batch wall ratio per round: ${ratios.map(formatRatio).join(' ')}`] : []),
  ];
}

async function main(): Promise<void> {
  const work = await mkdtemp('/var/tmp/bench-pod-start-');
  const registry = await startRegistry(work);
  try {
    const built = await buildBenchImages(work);
    const images: Images = {
      pause: await registry.push('bench/pause', 'v1', built.pause),
      busybox: await registry.push('bench/busybox', 'v1', built.busybox),
    };
    const certsDir = join(work, 'certs.d');
    await registry.writeHostsToml(certsDir);
    const cniConfDir = join(work, 'cni');
    await mkdir(cniConfDir);
    await writeBridgeConflist(cniConfDir);
    const logRoot = join(work, 'pod-logs');
    const opts: RuntimeOptions = {
      certsDir, cniConfDir, cniBinDir: '/usr/lib/cni', sandboxImage: images.pause, parentDir: work,
    };
    // A bridge left by an interrupted run would carry stale addresses into the numbers.
    await removeBridgeNetwork();

    const started = await startBoth(opts,
      { containerd: args['skip-containerd'] === true, berth: args['skip-berth'] === true });
    const lanes = new Lanes(started, newSide);
    try {
      await runPhases(lanes, images, logRoot);
    } finally {
      await lanes.closeAll(closeSide);
      // Both runtimes' pods share the bridge and the host-local reservations: they go once both are stopped.
      await removeBridgeNetwork();
    }
    const { berth, containerd } = lanes.outcomes((s) => s.m);
    const b = valueOr(berth, undefined);
    const c = valueOr(containerd, undefined);
    printTable(`pod start (1 container per pod; ${containersPerPod} per pod for list and footprint; ` +
      'runtimes interleaved)', rows(b, c), [...notes(b, c), ...unavailableNotes({ berth, containerd })]);
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
