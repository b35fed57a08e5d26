import type { RuntimeRpc } from '../handler.js';
import { criContainers } from './list-containers.js';
import { writePages } from './pages.js';

/** ListContainers in pages. */
export const streamContainers: RuntimeRpc<'StreamContainers'> = async (request, ctx, sink) =>
  writePages(criContainers(request.filter, ctx), (page) => sink.write({ containers: page }));
