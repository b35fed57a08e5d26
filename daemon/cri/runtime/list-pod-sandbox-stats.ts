import type { PodSandboxStats } from '../../../proto/gen/runtime/v1/PodSandboxStats.js';
import type { PodSandboxStatsFilter__Output } from '../../../proto/gen/runtime/v1/PodSandboxStatsFilter.js';
import type { CriContext } from '../context.js';
import type { RuntimeRpc } from '../handler.js';
import { matchesId, matchesLabels } from './filters.js';
import { podStats } from './pod-stats.js';

/** Stats of the ready pods a filter selects; shared with StreamPodSandboxStats. */
export async function podSandboxStatsMatching(f: PodSandboxStatsFilter__Output | null, ctx: CriContext): Promise<PodSandboxStats[]> {
  const pods = ctx.sandboxes.list().filter((s) => s.state === 'SANDBOX_READY' && matchesId(s.id, f?.id) && matchesLabels(s.config.labels, f?.label_selector));
  return Promise.all(pods.map((s) => podStats(ctx, s)));
}

export const listPodSandboxStats: RuntimeRpc<'ListPodSandboxStats'> = async (request, ctx) => ({ stats: await podSandboxStatsMatching(request.filter, ctx) });
