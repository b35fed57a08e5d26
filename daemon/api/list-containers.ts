import { berthContainer } from './container-view.js';
import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

export const listContainers: BerthRpc<'Containers', 'List'> = async (request, ctx) => {
  const pods = await ctx.namespaces.existing(requestNamespace(request));
  return { containers: pods === undefined ? [] : pods.containers.list().map((c) => berthContainer(c, pods)) };
};
