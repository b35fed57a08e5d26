import type { RuntimeRpc } from '../handler.js';
import { matchesId, matchesLabels } from './filters.js';
import { podStats } from './pod-stats.js';

/** Stats of ready pods matching the filter. */
export const listPodSandboxStats: RuntimeRpc<'ListPodSandboxStats'> = async (request, ctx) => {
  const f = request.filter;
  const pods = ctx.sandboxes
    .list()
    .filter((s) => s.state === 'SANDBOX_READY' && matchesId(s.id, f?.id) && matchesLabels(s.config.labels, f?.label_selector));
  return { stats: await Promise.all(pods.map((s) => podStats(ctx, s))) };
};
