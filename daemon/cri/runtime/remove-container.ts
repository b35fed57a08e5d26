import type { RuntimeRpc } from '../handler.js';

/** Stops the container if needed, deletes its rootfs and bundle (not its log); an unknown container is already removed. */
export const removeContainer: RuntimeRpc<'RemoveContainer'> = async (request, ctx) => {
  await ctx.containers.remove(request.container_id);
  return {};
};
