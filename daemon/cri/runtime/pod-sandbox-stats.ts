import type { RuntimeRpc } from '../handler.js';
import { podStats } from './pod-stats.js';

export const podSandboxStats: RuntimeRpc<'PodSandboxStats'> = async (request, ctx) => ({
  stats: await podStats(ctx, ctx.sandboxes.get(request.pod_sandbox_id)),
});
