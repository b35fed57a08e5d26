import { invalidArgument, notFound } from '../errors/errors.js';
import { removeStandalone } from '../namespaces/standalone.js';
import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

export const removeContainer: BerthRpc<'Containers', 'Remove'> = async (request, ctx) => {
  const namespace = requestNamespace(request);
  if (request.id === '') throw invalidArgument('rm needs a container name or id');
  const pods = await ctx.namespaces.existing(namespace);
  if (pods === undefined) throw notFound(`no container "${request.id}" in namespace ${namespace}: the namespace has none`);
  await removeStandalone(pods, namespace, request.id);
  return {};
};
