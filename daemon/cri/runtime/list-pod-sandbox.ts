import type { PodSandbox } from '../../../proto/gen/runtime/v1/PodSandbox.js';
import type { PodSandboxFilter__Output } from '../../../proto/gen/runtime/v1/PodSandboxFilter.js';
import type { CriContext } from '../context.js';
import type { RuntimeRpc } from '../handler.js';
import { byCreation, matchesId, matchesLabels } from './filters.js';
import { podSandboxOf } from './sandbox-view.js';

/** The sandboxes a filter selects, oldest first; shared with StreamPodSandboxes. */
export function podSandboxes(f: PodSandboxFilter__Output | null, ctx: CriContext): PodSandbox[] {
  return ctx.sandboxes
    .list()
    .filter((s) => matchesId(s.id, f?.id) && (f?.state == null || f.state.state === s.state) && matchesLabels(s.config.labels, f?.label_selector))
    .sort(byCreation)
    .map(podSandboxOf);
}

export const listPodSandbox: RuntimeRpc<'ListPodSandbox'> = async (request, ctx) => ({ items: podSandboxes(request.filter, ctx) });
