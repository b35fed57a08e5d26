import { snapshotsDir } from '../../images/open.js';
import type { RuntimeRpc } from '../handler.js';
import { containerStatsOf } from './stats-view.js';

export const containerStats: RuntimeRpc<'ContainerStats'> = async (request, ctx) => {
  const c = ctx.containers.get(request.container_id);
  return { stats: containerStatsOf(c, await ctx.containers.stats(c), snapshotsDir(ctx.config)) };
};
