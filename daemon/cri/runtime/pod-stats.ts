import { snapshotsDir } from '../../images/open.js';
import type { PodSandboxStats } from '../../../proto/gen/runtime/v1/PodSandboxStats.js';
import { podInterfaces } from '../../sandbox/net-dev.js';
import type { SandboxRecord } from '../../sandbox/sandbox.js';
import type { CriContext } from '../context.js';
import { containerStatsOf, podSandboxStatsOf } from './stats-view.js';

/** Stats of one pod from its running containers; shared by PodSandboxStats and ListPodSandboxStats. */
export async function podStats(ctx: CriContext, sandbox: SandboxRecord): Promise<PodSandboxStats> {
  const running = ctx.containers.list().filter((c) => c.sandboxId === sandbox.id && c.state === 'CONTAINER_RUNNING');
  const samples = await Promise.all(
    running.map(async (record) => {
      const sample = await ctx.containers.stats(record);
      return { record, sample, stats: containerStatsOf(record, sample, snapshotsDir(ctx.config)) };
    }),
  );
  // Any process of the pod shows the pod's network namespace; host-network pods have no counters of their own.
  const pid = sandbox.infra?.pid ?? running.find((c) => c.pid > 0)?.pid;
  const interfaces = sandbox.hostNetwork || pid === undefined ? [] : await podInterfaces(pid);
  return podSandboxStatsOf(sandbox, samples, interfaces);
}
