import type { Container } from '../../../proto/gen/runtime/v1/Container.js';
import type { ContainerFilter__Output } from '../../../proto/gen/runtime/v1/ContainerFilter.js';
import type { CriContext } from '../context.js';
import type { RuntimeRpc } from '../handler.js';
import { containerOf } from './container-view.js';
import { byCreation, matchesId, matchesLabels } from './filters.js';

/** The containers a filter selects, oldest first; shared with StreamContainers. */
export function criContainers(f: ContainerFilter__Output | null, ctx: CriContext): Container[] {
  return ctx.containers
    .list()
    .filter(
      (c) =>
        matchesId(c.id, f?.id) &&
        matchesId(c.sandboxId, f?.pod_sandbox_id) &&
        (f?.state == null || f.state.state === c.state) &&
        matchesLabels(c.config.labels, f?.label_selector),
    )
    .sort(byCreation)
    .map(containerOf);
}

export const listContainers: RuntimeRpc<'ListContainers'> = async (request, ctx) => ({ containers: criContainers(request.filter, ctx) });
