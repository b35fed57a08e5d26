import { runStandalone } from '../namespaces/standalone.js';
import { berthContainer } from './container-view.js';
import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

export const runContainer: BerthRpc<'Containers', 'Run'> = async (request, ctx) => {
  const namespace = requestNamespace(request);
  const pods = await ctx.namespaces.get(namespace);
  const container = await runStandalone(pods, ctx.images, namespace, {
    name: request.name,
    image: request.image,
    args: request.args,
    env: request.env,
    runtimeHandler: request.runtime_handler,
    pull: request.pull,
  });
  return { container: berthContainer(container, pods) };
};
