import type { RuntimeRpc } from '../handler.js';

/** Removes the sandbox and all its containers; an unknown sandbox is already removed. */
export const removePodSandbox: RuntimeRpc<'RemovePodSandbox'> = async (request, ctx) => {
  await ctx.sandboxes.remove(request.pod_sandbox_id);
  return {};
};
