import { snapshotsDir } from '../../images/open.js';
import type { PodSandboxStats } from '../../../proto/gen/runtime/v1/PodSandboxStats.js';
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
  return podSandboxStatsOf(sandbox, samples);
}
