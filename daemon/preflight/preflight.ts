import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import type { BerthConfig } from '../../config/types.js';
import { readIfPresent } from '../fs/read-if-present.js';
import type { Logger } from '../logging/logger.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import { missingRuntimeBinary, resolveRuntimeBinary } from '../oci/runtime-binary.js';

/**
 * Host checks an operator can act on: each problem is one sentence saying what is missing and what to change.
 * berthd logs them at start (one warn line each) and keeps serving, so kubelet can still be told through the
 * Status conditions; the checks are cheap enough to repeat on every Status call, so fixing the host clears
 * the condition without a restart.
 */

export type PreflightCheck = 'overlay' | 'runtime-binary' | 'network';

export interface PreflightProblem {
  check: PreflightCheck;
  /** Whether pods cannot run at all (RuntimeReady=false) rather than one handler or the network being unusable. */
  blocksRuntime: boolean;
  message: string;
}

const FILESYSTEMS = '/proc/filesystems';
const MODULES_DIR = `/lib/modules/${release()}`;

/**
 * overlayfs is usable when /proc/filesystems lists it (loaded or built in), or when the running kernel ships
 * it as a module: the kernel loads that at the first overlay mount by itself.
 */
export async function checkOverlay(filesystems = FILESYSTEMS, modulesDir = MODULES_DIR): Promise<PreflightProblem | undefined> {
  const registered = await readFile(filesystems, 'utf8');
  if (registered.split('\n').some((line) => line.split('\t').pop() === 'overlay')) return undefined;
  const modules = await readIfPresent(join(modulesDir, 'modules.dep'));
  if (modules !== undefined && /(^|\/)overlay\.ko(\.[a-z]+)?:/m.test(modules)) return undefined;
  return {
    check: 'overlay',
    blocksRuntime: true,
    message: `the overlay filesystem is not available (absent from ${filesystems} and no overlay module in ${modulesDir}), so images cannot be unpacked nor containers started; run \`modprobe overlay\` (berth.service does it in ExecStartPre) or install a kernel with overlayfs`,
  };
}

/** Every configured handler's binary; only the default handler's absence stops all pods. */
export async function checkRuntimeBinaries(config: BerthConfig): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = [];
  for (const [name, runtime] of Object.entries(config.cri.runtimes)) {
    if ((await resolveRuntimeBinary(runtime)) !== undefined) continue;
    const isDefault = name === config.cri.default_runtime;
    problems.push({ check: 'runtime-binary', blocksRuntime: isDefault, message: missingRuntimeBinary(name, runtime).message });
  }
  return problems;
}

async function checkNetwork(network: NetworkPlugin): Promise<PreflightProblem | undefined> {
  const status = await network.status();
  return status.ready ? undefined : { check: 'network', blocksRuntime: false, message: status.message };
}

export async function runPreflight(config: BerthConfig, network: NetworkPlugin): Promise<PreflightProblem[]> {
  const [overlay, runtimes, net] = await Promise.all([checkOverlay(), checkRuntimeBinaries(config), checkNetwork(network)]);
  return [...(overlay === undefined ? [] : [overlay]), ...runtimes, ...(net === undefined ? [] : [net])];
}

/** One warn line per problem, at start: the operator's first look at `journalctl -u berth`. */
export function logPreflight(problems: PreflightProblem[], logger: Logger): void {
  for (const problem of problems) logger.warn({ check: problem.check }, problem.message);
}
