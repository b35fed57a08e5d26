import { invalidArgument, notFound } from '../errors/errors.js';
import type { BerthRpc } from './handler.js';
import { requestNamespace } from './namespace.js';

/** Removes names from the namespace only; content and snapshots go once no namespace uses them. */
export const removeImage: BerthRpc<'Images', 'Remove'> = async (request, ctx) => {
  const namespace = requestNamespace(request);
  if (request.reference === '') throw invalidArgument('image remove needs a reference or image ID');
  if (ctx.images.resolve(namespace, request.reference) === undefined) {
    throw notFound(`image ${request.reference} not found in namespace ${namespace}; list them with berthctl -n ${namespace} images ls`);
  }
  await ctx.images.remove(namespace, request.reference);
  return {};
};
