import { invalidArgument } from '../../errors/errors.js';
import type { RuntimeRpc } from '../handler.js';

export const runPodSandbox: RuntimeRpc<'RunPodSandbox'> = async (request, ctx) => {
  if (request.config === null) throw invalidArgument('RunPodSandbox needs a config');
  const sandbox = await ctx.sandboxes.run(request.config, request.runtime_handler);
  return { pod_sandbox_id: sandbox.id };
};
