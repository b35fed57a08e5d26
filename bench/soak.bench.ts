/**
 * Soak: N pod cycles (RunPodSandbox, CreateContainer, StartContainer, StopPodSandbox, RemovePodSandbox), some in
 * parallel, through berthd's CRI socket; then what the node holds compared with before: mounts, namespace pins,
 * bundles, processes, snapshots, and the daemon's fds and RSS. A runtime that leaks shows it here, one cycle at a
 * time. berth only: the question is whether berth returns to its baseline, not how it compares.
 *   npm run build && node dist/bench/soak.bench.js [--cycles 1000] [--parallel 4] [--warmup 5]
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startBerth } from './lib/berth.js';
import { removeBridgeNetwork, writeBridgeConflist } from './lib/cni.js';
import { CriClient } from './lib/cri-client.js';
import { mountsUnder } from './lib/mounts.js';
import { benchPod, sleeperContainer } from './lib/pod-specs.js';
import { listProcesses } from './lib/processes.js';
import { startRegistry } from './lib/registry.js';
import type { RunningRuntime } from './lib/runtime-under-test.js';
import { buildBenchImages } from './lib/test-images.js';

const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string', default: '1000' },
    parallel: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '5' },
  },
});
const cycles = Number(args.cycles);
const parallel = Number(args.parallel);
const warmup = Number(args.warmup);
const MiB = 1024 * 1024;

/** What a leak would grow. */
interface Holdings {
  mounts: number;
  netnsPins: number;
  bundles: number;
  processes: number;
  snapshots: number;
  daemonFds: number;
  daemonRssMiB: number;
}

async function count(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).length;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

async function holdings(runtime: RunningRuntime): Promise<Holdings> {
  const state = join(runtime.dir, 'state');
  const status = await readFile(`/proc/${runtime.pid}/status`, 'utf8');
  const rssKiB = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const snapshots = JSON.parse(await readFile(join(runtime.dir, 'root', 'snapshots', 'metadata.json'), 'utf8').catch(() => '{"snapshots":{}}')) as { snapshots: object };
  return {
    // The two shared pin directories are mounts of their own for as long as the daemon lives.
    mounts: (await mountsUnder(runtime.dir)).length,
    netnsPins: (await count(join(state, 'netns'))) + (await count(join(state, 'ns'))),
    bundles: await count(join(state, 'k8s.io')),
    processes: (await listProcesses()).filter((p) => p.pid !== runtime.pid && p.argv.some((a) => a.includes(runtime.dir))).length,
    snapshots: Object.keys(snapshots.snapshots).length,
    daemonFds: await count(`/proc/${runtime.pid}/fd`),
    daemonRssMiB: Math.round((rssKiB * 1024 * 10) / MiB) / 10,
  };
}

async function cycle(client: CriClient, name: string, image: string, logRoot: string): Promise<void> {
  const pod = benchPod(name, logRoot);
  await mkdir(pod.log_directory as string, { recursive: true });
  const podId = await client.runPodSandbox(pod);
  const id = await client.createContainer(podId, sleeperContainer('c0', image), pod);
  await client.startContainer(id);
  await client.stopPodSandbox(podId);
  await client.removePodSandbox(podId);
  await rm(pod.log_directory as string, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const work = await mkdtemp('/var/tmp/bench-soak-');
  const registry = await startRegistry(work);
  let runtime: RunningRuntime | undefined;
  let client: CriClient | undefined;
  try {
    const built = await buildBenchImages(work);
    const pause = await registry.push('bench/pause', 'v1', built.pause);
    const busybox = await registry.push('bench/busybox', 'v1', built.busybox);
    const certsDir = join(work, 'certs.d');
    await registry.writeHostsToml(certsDir);
    const cniConfDir = join(work, 'cni');
    await mkdir(cniConfDir);
    await removeBridgeNetwork();
    await writeBridgeConflist(cniConfDir);
    const logRoot = join(work, 'pod-logs');
    runtime = await startBerth({ certsDir, cniConfDir, cniBinDir: '/usr/lib/cni', sandboxImage: pause, parentDir: work });
    client = new CriClient(runtime.socket);
    await client.waitReady();
    await client.pullImage(busybox);
    // The first cycles pay one-off costs (worker threads, CNI binaries, V8 heap growth); the baseline comes after.
    for (let i = 0; i < warmup; i++) await cycle(client, `warmup-${i}`, busybox, logRoot);
    const before = await holdings(runtime);

    const started = Date.now();
    let next = 0;
    let failures = 0;
    const worker = async (): Promise<void> => {
      while (next < cycles) {
        const i = next++;
        await cycle(client!, `soak-${i}`, busybox, logRoot).catch((err: unknown) => {
          failures++;
          process.stderr.write(`cycle ${i}: ${err instanceof Error ? err.message : String(err)}\n`);
        });
        if ((i + 1) % 100 === 0) process.stderr.write(`${i + 1}/${cycles} cycles\n`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, cycles) }, worker));
    const seconds = (Date.now() - started) / 1000;
    // Exits and clean-ups still in flight settle; then the node should look as before.
    await new Promise((r) => setTimeout(r, 2000));
    const after = await holdings(runtime);

    const rows = (Object.keys(before) as (keyof Holdings)[]).map((k) => [k, String(before[k]), String(after[k]), String(Math.round((after[k] - before[k]) * 10) / 10)]);
    const widths = [14, 10, 10, 8];
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
    process.stdout.write(`soak: ${cycles} pod cycles (run, create, start, stop, remove), ${parallel} at a time, in ${seconds.toFixed(1)}s (${(cycles / seconds).toFixed(1)}/s), ${failures} failed\n`);
    process.stdout.write(`${line(['', 'baseline', 'after', 'delta'])}\n${rows.map(line).join('\n')}\n`);
    // A few names of what grew, to start the hunt from.
    if (after.bundles > before.bundles) {
      const left = await readdir(join(runtime.dir, 'state', 'k8s.io'));
      process.stdout.write(`state/k8s.io holds: ${left.slice(0, 5).join(' ')}${left.length > 5 ? ' ...' : ''}\n`);
    }
    if (failures > 0) process.exitCode = 1;
  } finally {
    await client?.removeAllPods().catch((err: unknown) => process.stderr.write(`removing pods failed (teardown kills them): ${String(err)}\n`));
    client?.close();
    await runtime?.stop();
    await removeBridgeNetwork();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
