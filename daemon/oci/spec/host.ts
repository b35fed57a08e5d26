import { access, readFile } from 'node:fs/promises';
import type { CgroupDriver } from '../../../config/types.js';
import { capabilitiesInMask } from './capabilities.js';
import type { SpecHost } from './container-spec.js';

/** Reads the node facts specs depend on; once, at daemon start. */
export async function readSpecHost(cgroupDriver: CgroupDriver): Promise<SpecHost> {
  const cgroupV2 = await access('/sys/fs/cgroup/cgroup.controllers').then(() => true, () => false);
  const minOomScoreAdj = Number((await readFile('/proc/self/oom_score_adj', 'utf8')).trim());
  const bounding = /^CapBnd:\s*([0-9a-f]+)$/m.exec(await readFile('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return { cgroupDriver, cgroupV2, minOomScoreAdj, capabilities: capabilitiesInMask(bounding) };
}
