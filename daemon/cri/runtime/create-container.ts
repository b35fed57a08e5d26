import { invalidArgument } from '../../errors/errors.js';
import type { RuntimeRpc } from '../handler.js';

/**
 * Creates the container in the sandbox berth already holds; the request's sandbox_config is kubelet's copy of
 * the same config, so berth's own record is used (it is what the pod's namespaces were made from).
 */
export const createContainer: RuntimeRpc<'CreateContainer'> = async (request, ctx) => {
  if (request.config === null) throw invalidArgument('CreateContainer needs a config');
  const container = await ctx.containers.create(request.pod_sandbox_id, request.config);
  return { container_id: container.id };
};
