/**
 * Image pull: a ~200 MB image in 10 layers from a loopback registry, pulled through the CRI by containerd and by
 * berth (fresh root for every iteration), against the floor of `tar -xzf` of the same layers.
 *   npm run build && node dist/bench/pull.bench.js [--iterations 3] [--warmup 1] [--skip-berth] [--skip-containerd]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { measureBoth, type StartRuntime } from './lib/both-runtimes.js';
import { CriClient } from './lib/cri-client.js';
import { assembleImage, writeLayer, type BuiltLayer } from './lib/image-builder.js';
import { unavailableNotes, valueOr } from './lib/outcome.js';
import { startRegistry } from './lib/registry.js';
import { printTable } from './lib/report.js';
import type { RuntimeOptions } from './lib/runtime-under-test.js';
import { seededLayerEntries } from './lib/seeded-content.js';
import { median, p90, timed } from './lib/stats.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    'skip-berth': { type: 'boolean', default: false },
    'skip-containerd': { type: 'boolean', default: false },
  },
});
const iterations = Number(args.iterations);
const warmup = Number(args.warmup);

/** 10 layers of 20 MiB uncompressed each: 12 MiB incompressible, 7 MiB text, 250 small files. */
async function buildLayers(dir: string): Promise<BuiltLayer[]> {
  const layers: BuiltLayer[] = [];
  for (let i = 0; i < 10; i++) {
    const shape = { randomBytes: 12 * MiB, textBytes: 7 * MiB, smallFiles: 250 };
    layers.push(await writeLayer(join(dir, `layer-${i}.tar.gz`), seededLayerEntries(i + 1, shape)));
  }
  return layers;
}

/** Write back the previous iteration's dirty pages first, so that no run pays for the one before it. */
async function settleDisk(): Promise<void> {
  await run('sync');
}

/** The least work any runtime must do: decompress and write every layer, in order, with no registry in between. */
async function floorOnce(layers: BuiltLayer[], parent: string): Promise<number> {
  const dest = await mkdtemp(join(parent, 'floor-'));
  await settleDisk();
  try {
    const { ms } = await timed(async () => {
      for (const layer of layers) await run('tar', ['-xzf', layer.file, '-C', dest]);
    });
    return ms;
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}

/**
 * Pull ref once per iteration, each time into a freshly started runtime with an empty root. Warm-up pulls are
 * not counted: they bring the registry's blobs and the runtime's binaries into the page cache.
 */
async function pullTimes(name: string, start: StartRuntime, ref: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const runtime = await start();
    const client = new CriClient(runtime.socket);
    try {
      await client.waitReady();
      await settleDisk();
      const { ms } = await timed(() => client.pullImage(ref));
      // A pull that returned early would look fast: the runtime must now report the image.
      if ((await client.imageStatus(ref)) === null) {
        throw new Error(`${name} returned from PullImage but ImageStatus does not know ${ref}`);
      }
      process.stderr.write(`${name} pull ${i < warmup ? '(warm-up) ' : ''}${ms.toFixed(0)} ms\n`);
      if (i >= warmup) times.push(ms);
    } finally {
      client.close();
      await runtime.stop();
    }
  }
  return times;
}

async function main(): Promise<void> {
  const work = await mkdtemp('/var/tmp/bench-pull-');
  const registry = await startRegistry(work);
  try {
    const layerDir = join(work, 'layers');
    await mkdir(layerDir);
    const built = await timed(() => buildLayers(layerDir));
    const layers = built.value;
    const image = assembleImage(layers, { Cmd: ['/bin/sh'] });
    const ref = await registry.push('bench/pull', 'v1', image);
    const compressed = layers.reduce((n, l) => n + l.size, 0);
    const uncompressed = layers.reduce((n, l) => n + l.uncompressedSize, 0);
    process.stderr.write(`built ${ref}: ${(uncompressed / MiB).toFixed(0)} MiB in ${layers.length} layers, ` +
      `${(compressed / MiB).toFixed(0)} MiB compressed (${built.ms.toFixed(0)} ms)\n`);

    const certsDir = join(work, 'certs.d');
    await registry.writeHostsToml(certsDir);
    const cniConfDir = join(work, 'cni');
    await mkdir(cniConfDir);
    const opts: RuntimeOptions = {
      certsDir,
      cniConfDir,
      cniBinDir: '/usr/lib/cni',
      sandboxImage: `${registry.host}/bench/pause:none`,
      parentDir: work,
    };

    const floor: number[] = [];
    for (let i = 0; i < iterations; i++) floor.push(await floorOnce(layers, work));
    const { containerd, berth } = await measureBoth(opts,
      { containerd: args['skip-containerd'] === true, berth: args['skip-berth'] === true },
      (name, start) => pullTimes(name, start, ref));

    const c = valueOr(containerd, undefined);
    const b = valueOr(berth, undefined);
    const f = median(floor);
    printTable(`pull ${(uncompressed / MiB).toFixed(0)} MiB / ${layers.length} layers ` +
      `(${(compressed / MiB).toFixed(0)} MiB gzip), ${iterations} iterations after ${warmup} warm-up, ` +
      'fresh root each', [
      { metric: 'pull median', unit: 'ms', berth: b && median(b), containerd: c && median(c) },
      { metric: 'pull p90', unit: 'ms', berth: b && p90(b), containerd: c && p90(c) },
      { metric: 'pull median / floor', unit: 'x', berth: b && median(b) / f, containerd: c && median(c) / f },
      { metric: 'throughput (uncompressed)', unit: 'MiB/s', berth: b && uncompressed / MiB / (median(b) / 1000),
        containerd: c && uncompressed / MiB / (median(c) / 1000) },
    ], [
      `floor (tar -xzf of the ${layers.length} layers in order, median): ${f.toFixed(0)} ms`,
      ...unavailableNotes({ berth, containerd }),
    ]);
  } finally {
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
