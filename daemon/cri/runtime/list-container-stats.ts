import type { ContainerStats } from '../../../proto/gen/runtime/v1/ContainerStats.js';
import type { ContainerStatsFilter__Output } from '../../../proto/gen/runtime/v1/ContainerStatsFilter.js';
import { snapshotsDir } from '../../images/open.js';
import type { CriContext } from '../context.js';
import type { RuntimeRpc } from '../handler.js';
import { matchesId, matchesLabels } from './filters.js';
import { containerStatsOf } from './stats-view.js';

/**
 * Stats of the running containers a filter selects, like containerd (kubelet asks on every housekeeping
 * pass); shared with StreamContainerStats.
 */
export async function containerStatsMatching(f: ContainerStatsFilter__Output | null, ctx: CriContext): Promise<ContainerStats[]> {
  const chosen = ctx.containers
    .list()
    .filter((c) => c.state === 'CONTAINER_RUNNING' && matchesId(c.id, f?.id) && matchesId(c.sandboxId, f?.pod_sandbox_id) && matchesLabels(c.config.labels, f?.label_selector));
  return Promise.all(chosen.map(async (c) => containerStatsOf(c, await ctx.containers.stats(c), snapshotsDir(ctx.config))));
}

export const listContainerStats: RuntimeRpc<'ListContainerStats'> = async (request, ctx) => ({ stats: await containerStatsMatching(request.filter, ctx) });
