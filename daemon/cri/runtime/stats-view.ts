import type { ContainerStats } from '../../../proto/gen/runtime/v1/ContainerStats.js';
import type { NetworkUsage } from '../../../proto/gen/runtime/v1/NetworkUsage.js';
import type { PodSandboxStats } from '../../../proto/gen/runtime/v1/PodSandboxStats.js';
import type { ContainerRecord } from '../../container/container.js';
import type { ContainerStatsSample } from '../../container/container-service.js';
import type { InterfaceCounters } from '../../sandbox/net-dev.js';
import type { SandboxRecord } from '../../sandbox/sandbox.js';

/** ContainerStats from a sample: CPU and memory from the container's cgroup, disk from its writable layer. */
export function containerStatsOf(r: ContainerRecord, s: ContainerStatsSample, snapshotsDir: string): ContainerStats {
  const t = s.timestampNs;
  return {
    attributes: { id: r.id, metadata: r.config.metadata, labels: r.config.labels, annotations: r.config.annotations },
    cpu: s.task
      ? {
          timestamp: t,
          usage_core_nano_seconds: { value: s.task.cpuUsageNs },
          ...(s.nanoCores === undefined ? {} : { usage_nano_cores: { value: s.nanoCores } }),
        }
      : null,
    memory: s.task
      ? {
          timestamp: t,
          working_set_bytes: { value: s.task.memoryWorkingSetBytes },
          usage_bytes: { value: s.task.memoryUsageBytes },
          rss_bytes: { value: s.task.memoryRssBytes },
        }
      : null,
    writable_layer: {
      timestamp: t,
      fs_id: { mountpoint: snapshotsDir },
      used_bytes: { value: s.writableLayer.size },
      inodes_used: { value: s.writableLayer.inodes },
    },
  };
}

/** Pod stats: the sum of its containers' CPU, memory and processes, with each container's own stats inside. */
export function podSandboxStatsOf(
  sandbox: SandboxRecord,
  samples: Array<{ record: ContainerRecord; sample: ContainerStatsSample; stats: ContainerStats }>,
  interfaces: InterfaceCounters[],
): PodSandboxStats {
  const t = (BigInt(Date.now()) * 1_000_000n).toString();
  let cpu = 0n;
  let nanoCores: number | undefined;
  let workingSet = 0;
  let usage = 0;
  let rss = 0;
  let pids = 0;
  for (const { sample } of samples) {
    if (!sample.task) continue;
    cpu += BigInt(sample.task.cpuUsageNs);
    if (sample.nanoCores !== undefined) nanoCores = (nanoCores ?? 0) + sample.nanoCores;
    workingSet += sample.task.memoryWorkingSetBytes;
    usage += sample.task.memoryUsageBytes;
    rss += sample.task.memoryRssBytes;
    pids += sample.task.pids;
  }
  return {
    attributes: { id: sandbox.id, metadata: sandbox.config.metadata, labels: sandbox.config.labels, annotations: sandbox.config.annotations },
    linux: {
      cpu: {
        timestamp: t,
        usage_core_nano_seconds: { value: cpu.toString() },
        ...(nanoCores === undefined ? {} : { usage_nano_cores: { value: nanoCores } }),
      },
      memory: { timestamp: t, working_set_bytes: { value: workingSet }, usage_bytes: { value: usage }, rss_bytes: { value: rss } },
      process: { timestamp: t, process_count: { value: pids } },
      ...(interfaces.length === 0 ? {} : { network: networkUsage(t, interfaces) }),
      containers: samples.map((s) => s.stats),
    },
  };
}

/** CNI names the pod's interface eth0; it is the default one kubelet reports. */
function networkUsage(timestamp: string, interfaces: InterfaceCounters[]): NetworkUsage {
  const usage = interfaces.map((i) => ({
    name: i.name,
    rx_bytes: { value: i.rxBytes },
    rx_errors: { value: i.rxErrors },
    tx_bytes: { value: i.txBytes },
    tx_errors: { value: i.txErrors },
  }));
  return { timestamp, default_interface: usage.find((i) => i.name === 'eth0') ?? usage[0]!, interfaces: usage };
}
