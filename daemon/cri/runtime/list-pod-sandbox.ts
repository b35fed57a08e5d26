import type { RuntimeRpc } from '../handler.js';
import { matchesId, matchesLabels } from './filters.js';
import { podSandboxOf } from './sandbox-view.js';

export const listPodSandbox: RuntimeRpc<'ListPodSandbox'> = async (request, ctx) => {
  const f = request.filter;
  const items = ctx.sandboxes
    .list()
    .filter((s) => matchesId(s.id, f?.id) && (f?.state == null || f.state.state === s.state) && matchesLabels(s.config.labels, f?.label_selector))
    .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1))
    .map(podSandboxOf);
  return { items };
};
