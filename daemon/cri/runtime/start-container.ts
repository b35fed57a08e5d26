import type { RuntimeRpc } from '../handler.js';

export const startContainer: RuntimeRpc<'StartContainer'> = async (request, ctx) => {
  await ctx.containers.start(request.container_id);
  return {};
};
