import type { LinuxResources } from './runtime-spec.js';
import { int64, type LinuxContainerResources } from './cri-input.js';
import { invalidArgument } from '../../errors/errors.js';

export interface ResourcePlan {
  resources: LinuxResources;
  oomScoreAdj: number;
  /** Adjustments made on the caller's behalf, for the log. */
  notes: string[];
}

/**
 * linux.resources and the OOM score for the CRI resources. `minOomScoreAdj` is this process's own
 * /proc/self/oom_score_adj: without CAP_SYS_RESOURCE a process may not lower a child's score below its own, so a
 * kubelet asking for -997 on such a host gets the floor instead of a failed container (containerd's
 * restrict_oom_score_adj). On cgroup v1 the v2-only `unified` map is refused, except `pids.max`, which has a
 * v1 equivalent in linux.resources.pids.
 */
export function linuxResources(r: LinuxContainerResources | null | undefined, host: { minOomScoreAdj: number; cgroupV2: boolean }): ResourcePlan {
  const notes: string[] = [];
  const resources: LinuxResources = { devices: [] };
  let oomScoreAdj = int64(r?.oom_score_adj);
  if (oomScoreAdj < host.minOomScoreAdj) {
    notes.push(`oom_score_adj ${oomScoreAdj} raised to ${host.minOomScoreAdj}: berthd may not set a score below its own without CAP_SYS_RESOURCE`);
    oomScoreAdj = host.minOomScoreAdj;
  }
  if (!r) return { resources, oomScoreAdj, notes };

  const cpu: NonNullable<LinuxResources['cpu']> = {};
  if (int64(r.cpu_shares) > 0) cpu.shares = int64(r.cpu_shares);
  if (int64(r.cpu_quota) !== 0) cpu.quota = int64(r.cpu_quota);
  if (int64(r.cpu_period) > 0) cpu.period = int64(r.cpu_period);
  if (r.cpuset_cpus) cpu.cpus = r.cpuset_cpus;
  if (r.cpuset_mems) cpu.mems = r.cpuset_mems;
  if (Object.keys(cpu).length > 0) resources.cpu = cpu;

  const limit = int64(r.memory_limit_in_bytes);
  const swap = int64(r.memory_swap_limit_in_bytes);
  if (limit > 0) resources.memory = swap > 0 ? { limit, swap } : { limit };

  const hugepages = (r.hugepage_limits ?? []).map((h) => ({ pageSize: h.page_size ?? '', limit: int64(h.limit) }));
  if (hugepages.length > 0) resources.hugepageLimits = hugepages;

  const unified = { ...(r.unified ?? {}) };
  if (!host.cgroupV2) {
    const pidsMax = unified['pids.max'];
    delete unified['pids.max'];
    if (pidsMax !== undefined && pidsMax !== 'max') resources.pids = { limit: Number(pidsMax) };
    const rest = Object.keys(unified);
    if (rest.length > 0) {
      throw invalidArgument(`unified cgroup settings ${rest.join(', ')} need cgroup v2, but this node runs cgroup v1; remove them from the pod's resources`);
    }
  } else if (Object.keys(unified).length > 0) resources.unified = unified;
  return { resources, oomScoreAdj, notes };
}
