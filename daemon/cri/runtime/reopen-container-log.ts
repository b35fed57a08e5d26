import type { RuntimeRpc } from '../handler.js';

/** Asks the container's shim to reopen its CRI log file (kubelet rotated it). */
export const reopenContainerLog: RuntimeRpc<'ReopenContainerLog'> = async (request, ctx) => {
  await ctx.containers.reopenLog(request.container_id);
  return {};
};
