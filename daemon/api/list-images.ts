import type { BerthRpc } from './handler.js';
import { berthImage } from './image-view.js';
import { requestNamespace } from './namespace.js';

export const listImages: BerthRpc<'Images', 'List'> = async (request, ctx) => ({
  images: ctx.images.list(requestNamespace(request)).map(berthImage),
});
