import type { RuntimeRpc } from '../handler.js';
import { containerStatsMatching } from './list-container-stats.js';
import { writePages } from './pages.js';

/** ListContainerStats in pages. */
export const streamContainerStats: RuntimeRpc<'StreamContainerStats'> = async (request, ctx, sink) =>
  writePages(await containerStatsMatching(request.filter, ctx), (page) => sink.write({ container_stats: page }));
