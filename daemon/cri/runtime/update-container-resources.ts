import type { RuntimeRpc } from '../handler.js';

export const updateContainerResources: RuntimeRpc<'UpdateContainerResources'> = async (request, ctx) => {
  await ctx.containers.updateResources(request.container_id, request.linux);
  return {};
};
