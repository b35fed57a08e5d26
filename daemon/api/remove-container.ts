import { invalidArgument } from '../errors/errors.js';
import { removeStandalone } from '../namespaces/standalone.js';
import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

export const removeContainer: BerthRpc<'Containers', 'Remove'> = async (request, ctx) => {
  const namespace = requestNamespace(request);
  if (request.id === '') throw invalidArgument('rm needs a container name or id');
  await removeStandalone(await ctx.namespaces.get(namespace), namespace, request.id);
  return {};
};
