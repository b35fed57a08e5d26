/**
 * Pod start: RunPodSandbox + CreateContainer + StartContainer through the CRI, sequentially and 20 pods 10 at a
 * time; ListContainers/ListPodSandbox latency with many containers; proportional set size (PSS) of the shims and
 * the daemon. The same client, images, CNI bridge and order of calls for containerd and for berth.
 *   npm run build && node dist/bench/pod-start.bench.js [--sequential 10] [--batch 20] [--parallel 10]
 *     [--containers-per-pod 3] [--list-calls 50] [--skip-berth] [--skip-containerd]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureBoth, type StartRuntime } from './lib/both-runtimes.js';
import { removeBridgeNetwork, writeBridgeConflist } from './lib/cni.js';
import { CriClient } from './lib/cri-client.js';
import { unavailableNotes, valueOr } from './lib/outcome.js';
import { benchPod, sleeperContainer } from './lib/pod-specs.js';
import { cpuSeconds, hostBusySeconds, listProcesses, pssBytes } from './lib/processes.js';
import { startRegistry } from './lib/registry.js';
import { printTable, type ResultRow } from './lib/report.js';
import type { RunningRuntime, RuntimeOptions } from './lib/runtime-under-test.js';
import type { PodSandboxConfig } from '../proto/gen/runtime/v1/PodSandboxConfig.js';
import { median, p90, timed } from './lib/stats.js';
import { buildBenchImages } from './lib/test-images.js';

const { values: args } = parseArgs({
  options: {
    sequential: { type: 'string', default: '10' },
    batch: { type: 'string', default: '20' },
    parallel: { type: 'string', default: '10' },
    'containers-per-pod': { type: 'string', default: '3' },
    'list-calls': { type: 'string', default: '50' },
    'skip-berth': { type: 'boolean', default: false },
    'skip-containerd': { type: 'boolean', default: false },
  },
});
const sequential = Number(args.sequential);
const batch = Number(args.batch);
const parallel = Number(args.parallel);
const containersPerPod = Number(args['containers-per-pod']);
const listCalls = Number(args['list-calls']);
const MiB = 1024 * 1024;

interface Images {
  pause: string;
  busybox: string;
}

/** One runtime's numbers; times in ms, sizes in bytes. */
interface PodStartResult extends Footprint {
  runPod: number[];
  createContainer: number[];
  startContainer: number[];
  podTotal: number[];
  batchPodTotal: number[];
  batchWall: number;
  /** Busy CPU seconds of the whole machine per pod, over the sequential pods and over the batch. */
  seqCpuPerPod: number;
  batchCpuPerPod: number;
  containers: number;
  listContainers: number[];
  listPodSandbox: number[];
  stopRemovePod: number[];
}

/** Measured with every pod running, after the list calls. */
interface Footprint {
  shims: number;
  shimPss: number;
  daemonPss: number;
  /** CPU seconds the daemon used from its start until now. */
  daemonCpu: number;
  /** CPU seconds the shims running now have used. */
  shimCpu: number;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

interface PodTiming {
  podId: string;
  config: PodSandboxConfig;
  run: number;
  create: number;
  start: number;
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

/** Run fn over items with at most limit in flight, results in item order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}


/** Shims are the processes whose argv names the runtime's temp dir, other than the daemon itself. */
async function footprint(runtime: RunningRuntime): Promise<Footprint> {
  const shims = (await listProcesses())
    .filter((p) => p.pid !== runtime.pid && p.argv.some((a) => a.includes(runtime.dir)));
  return {
    shims: shims.length,
    shimPss: sum(await Promise.all(shims.map((p) => pssBytes(p.pid)))),
    daemonPss: await pssBytes(runtime.pid),
    daemonCpu: await cpuSeconds(runtime.pid),
    shimCpu: sum(await Promise.all(shims.map((p) => cpuSeconds(p.pid)))),
  };
}

async function measure(start: StartRuntime, images: Images, logRoot: string): Promise<PodStartResult> {
  const runtime = await start();
  const client = new CriClient(runtime.socket);
  try {
    await client.waitReady();
    // Pulls are the pull bench's business: here both images are local before the clock starts.
    await client.pullImage(images.pause);
    await client.pullImage(images.busybox);
    // Warm-up: the first pod pays one-off costs (CNI plugin binaries into the page cache, first cgroup dirs).
    const warm = await startPod(client, 'warmup', images, logRoot);
    await client.stopPodSandbox(warm.podId);
    await client.removePodSandbox(warm.podId);

    const seq: PodTiming[] = [];
    const seqCpu = await hostBusySeconds();
    for (let i = 0; i < sequential; i++) seq.push(await startPod(client, `seq-${i}`, images, logRoot));
    const seqCpuPerPod = (await hostBusySeconds() - seqCpu) / sequential;

    const names = Array.from({ length: batch }, (_, i) => `batch-${i}`);
    const batchCpu = await hostBusySeconds();
    const batchRun = await timed(() =>
      mapLimit(names, parallel, async (name) => {
        const t = await timed(() => startPod(client, name, images, logRoot));
        return { ...t.value, total: t.ms };
      }));
    const batchCpuPerPod = (await hostBusySeconds() - batchCpu) / batch;

    // More containers in every pod, so the list calls and footprint see a loaded node.
    const pods = [...seq, ...batchRun.value];
    for (const pod of pods) {
      for (let c = 1; c < containersPerPod; c++) {
        const id = await client.createContainer(pod.podId, sleeperContainer(`c${c}`, images.busybox), pod.config);
        await client.startContainer(id);
      }
    }
    const containers = (await client.listContainers()).length;
    const listContainers: number[] = [];
    const listPodSandbox: number[] = [];
    for (let i = 0; i < listCalls; i++) {
      listContainers.push((await timed(() => client.listContainers())).ms);
      listPodSandbox.push((await timed(() => client.listPodSandbox())).ms);
    }
    const fp = await footprint(runtime);

    const stopRemovePod: number[] = [];
    for (const pod of pods) {
      stopRemovePod.push((await timed(async () => {
        await client.stopPodSandbox(pod.podId);
        await client.removePodSandbox(pod.podId);
      })).ms);
    }
    return {
      runPod: seq.map((t) => t.run),
      createContainer: seq.map((t) => t.create),
      startContainer: seq.map((t) => t.start),
      podTotal: seq.map((t) => t.run + t.create + t.start),
      batchPodTotal: batchRun.value.map((t) => t.total),
      batchWall: batchRun.ms,
      seqCpuPerPod,
      batchCpuPerPod,
      containers,
      listContainers,
      listPodSandbox,
      ...fp,
      stopRemovePod,
    };
  } finally {
    // A failure here must not replace the error that got us here; teardown below kills whatever is left anyway.
    await client.removeAllPods().catch((err: unknown) => {
      process.stderr.write(`removing bench pods through the CRI failed (teardown kills them): ${String(err)}\n`);
    });
    client.close();
    await runtime.stop();
    await removeBridgeNetwork();
  }
}

function rows(b: PodStartResult | undefined, c: PodStartResult | undefined): ResultRow[] {
  const row = (metric: string, unit: string, f: (r: PodStartResult) => number): ResultRow =>
    ({ metric, unit, berth: b && f(b), containerd: c && f(c) });
  return [
    row(`RunPodSandbox median (x${sequential} sequential)`, 'ms', (r) => median(r.runPod)),
    row('CreateContainer median', 'ms', (r) => median(r.createContainer)),
    row('StartContainer median', 'ms', (r) => median(r.startContainer)),
    row('pod start total median', 'ms', (r) => median(r.podTotal)),
    row('pod start total p90', 'ms', (r) => p90(r.podTotal)),
    row('host CPU per sequential pod', 'ms', (r) => r.seqCpuPerPod * 1000),
    row(`${batch} pods ${parallel} at a time: wall`, 'ms', (r) => r.batchWall),
    row(`${batch} pods ${parallel} at a time: per-pod median`, 'ms', (r) => median(r.batchPodTotal)),
    row(`${batch} pods ${parallel} at a time: per-pod p90`, 'ms', (r) => p90(r.batchPodTotal)),
    row(`${batch} pods ${parallel} at a time: host CPU per pod`, 'ms', (r) => r.batchCpuPerPod * 1000),
    row('containers running', '', (r) => r.containers),
    row(`ListContainers median (x${listCalls})`, 'ms', (r) => median(r.listContainers)),
    row('ListContainers p90', 'ms', (r) => p90(r.listContainers)),
    row(`ListPodSandbox median (x${listCalls})`, 'ms', (r) => median(r.listPodSandbox)),
    row('ListPodSandbox p90', 'ms', (r) => p90(r.listPodSandbox)),
    row('shim processes', '', (r) => r.shims),
    row('shim PSS total', 'MiB', (r) => r.shimPss / MiB),
    row('shim PSS per container', 'MiB', (r) => r.shimPss / MiB / r.containers),
    row('daemon PSS', 'MiB', (r) => r.daemonPss / MiB),
    row('daemon CPU (start to loaded node)', 's', (r) => r.daemonCpu),
    row('shim CPU total (same span)', 's', (r) => r.shimCpu),
    row('StopPodSandbox+RemovePodSandbox median', 'ms', (r) => median(r.stopRemovePod)),
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
    // A bridge left by an interrupted run would carry stale addresses into the first runtime's numbers.
    await removeBridgeNetwork();

    const { containerd, berth } = await measureBoth(opts,
      { containerd: args['skip-containerd'] === true, berth: args['skip-berth'] === true },
      (_name, start) => measure(start, images, logRoot));
    printTable(`pod start (1 container per pod; ${containersPerPod} per pod for list and footprint)`,
      rows(valueOr(berth, undefined), valueOr(containerd, undefined)),
      ['containerd runs one shim per pod, berth one per container', ...unavailableNotes({ berth, containerd })]);
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
