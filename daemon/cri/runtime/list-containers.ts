import type { RuntimeRpc } from '../handler.js';
import { containerOf } from './container-view.js';
import { matchesId, matchesLabels } from './filters.js';

export const listContainers: RuntimeRpc<'ListContainers'> = async (request, ctx) => {
  const f = request.filter;
  const containers = ctx.containers
    .list()
    .filter(
      (c) =>
        matchesId(c.id, f?.id) &&
        matchesId(c.sandboxId, f?.pod_sandbox_id) &&
        (f?.state == null || f.state.state === c.state) &&
        matchesLabels(c.config.labels, f?.label_selector),
    )
    .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1))
    .map(containerOf);
  return { containers };
};
