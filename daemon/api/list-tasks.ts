import { berthTask } from './container-view.js';
import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

export const listTasks: BerthRpc<'Tasks', 'List'> = async (request, ctx) => {
  const pods = await ctx.namespaces.existing(requestNamespace(request));
  return { tasks: pods?.containers.list().map(berthTask) ?? [] };
};
