/**
 * Run the CRI validation suite (critest from kubernetes-sigs/cri-tools v1.29, installed on the machine; it is not
 * part of this repo) against a freshly started berth or containerd, with the same CNI network and registry
 * mirrors for both, so a failing spec can be checked against containerd's behaviour at once.
 *   npm run build && node dist/bench/conformance.js --runtime berth|containerd --certs-d DIR
 *     [--sandbox-image registry.k8s.io/pause:3.9] [--focus REGEX] [--skip REGEX] [--log FILE]
 * --certs-d: hosts.toml files mapping the suite's upstream registries to a local one, e.g. the directory that
 * /work/shared/cri-test-images/up.sh prints. The runtime's log is kept in --log (default
 * /var/tmp/conformance-<runtime>.log) since its temp dir is removed. Exits with critest's status.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startBerth } from './lib/berth.js';
import { removeBridgeNetwork, writeBridgeConflist } from './lib/cni.js';
import { startContainerd } from './lib/containerd.js';
import type { RunningRuntime, RuntimeOptions } from './lib/runtime-under-test.js';

const { values: args } = parseArgs({
  options: {
    runtime: { type: 'string' },
    'certs-d': { type: 'string' },
    'sandbox-image': { type: 'string', default: 'registry.k8s.io/pause:3.9' },
    focus: { type: 'string' },
    skip: { type: 'string' },
    log: { type: 'string' },
  },
});

function usage(problem: string): never {
  process.stderr.write(`conformance: ${problem}\nusage: node dist/bench/conformance.js --runtime berth|containerd ` +
    '--certs-d DIR [--sandbox-image REF] [--focus REGEX] [--skip REGEX] [--log FILE]\n');
  process.exit(2);
}

function critest(endpoint: string): Promise<number> {
  // Specs run one at a time: critest's parallel mode needs the ginkgo CLI, which is not installed.
  const argv = ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--ginkgo.no-color'];
  if (args.focus !== undefined) argv.push('--ginkgo.focus', args.focus);
  if (args.skip !== undefined) argv.push('--ginkgo.skip', args.skip);
  return new Promise((resolve, reject) => {
    const child = spawn('critest', argv, { stdio: 'inherit' });
    child.once('error', (err) => {
      reject(new Error(`critest: ${err.message}; build it from cri-tools v1.29 (see bench/README.md)`));
    });
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

async function main(): Promise<number> {
  const certsDir = args['certs-d'] ?? usage('--certs-d is required');
  const start: (o: RuntimeOptions) => Promise<RunningRuntime> =
    args.runtime === 'berth' ? startBerth
      : args.runtime === 'containerd' ? startContainerd
        : usage(`--runtime must be berth or containerd, got ${args.runtime ?? 'nothing'}`);
  const cniConfDir = await mkdtemp('/var/tmp/bench-conformance-cni-');
  try {
    await writeBridgeConflist(cniConfDir, { hostPorts: true });
    const sandboxImage = args['sandbox-image'] as string;
    const runtime = await start({ certsDir, cniConfDir, cniBinDir: '/usr/lib/cni', sandboxImage });
    const keptLog = args.log ?? `/var/tmp/conformance-${args.runtime}.log`;
    try {
      process.stderr.write(`conformance: ${args.runtime} on ${runtime.endpoint}, log kept in ${keptLog}\n`);
      return await critest(runtime.endpoint);
    } finally {
      await copyFile(runtime.logFile, keptLog);
      await runtime.stop();
    }
  } finally {
    await removeBridgeNetwork();
    await rm(cniConfDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
