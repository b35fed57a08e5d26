import type { RuntimeRpc } from '../handler.js';
import { podSandboxStatsMatching } from './list-pod-sandbox-stats.js';
import { writePages } from './pages.js';

/** ListPodSandboxStats in pages. */
export const streamPodSandboxStats: RuntimeRpc<'StreamPodSandboxStats'> = async (request, ctx, sink) =>
  writePages(await podSandboxStatsMatching(request.filter, ctx), (page) => sink.write({ pod_sandbox_stats: page }));
