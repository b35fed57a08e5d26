import { snapshotsDir } from '../../images/open.js';
import type { RuntimeRpc } from '../handler.js';
import { matchesId, matchesLabels } from './filters.js';
import { containerStatsOf } from './stats-view.js';

/** Stats of running containers only, like containerd: kubelet asks for these on every housekeeping pass. */
export const listContainerStats: RuntimeRpc<'ListContainerStats'> = async (request, ctx) => {
  const f = request.filter;
  const chosen = ctx.containers
    .list()
    .filter((c) => c.state === 'CONTAINER_RUNNING' && matchesId(c.id, f?.id) && matchesId(c.sandboxId, f?.pod_sandbox_id) && matchesLabels(c.config.labels, f?.label_selector));
  const stats = await Promise.all(chosen.map(async (c) => containerStatsOf(c, await ctx.containers.stats(c), snapshotsDir(ctx.config))));
  return { stats };
};
