import type { RuntimeRpc } from '../handler.js';

/** Idempotent: stopping a stopped or unknown sandbox succeeds, as kubelet retries stops. */
export const stopPodSandbox: RuntimeRpc<'StopPodSandbox'> = async (request, ctx) => {
  await ctx.sandboxes.stop(request.pod_sandbox_id);
  return {};
};
