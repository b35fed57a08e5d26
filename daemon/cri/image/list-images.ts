import { CRI_NAMESPACE } from '../../images/image-service.js';
import type { ImageRpc } from '../handler.js';
import { isPinned } from './pinned.js';
import { toCriImage } from './cri-image.js';

/** Every image of the k8s.io namespace, or only the one filter.image names. */
export const listImages: ImageRpc<'ListImages'> = async (request, ctx) => {
  const wanted = request.filter?.image?.image ?? '';
  const views = wanted === '' ? ctx.images.list(CRI_NAMESPACE) : [ctx.images.resolve(CRI_NAMESPACE, wanted)].filter((v) => v !== undefined);
  const images = await Promise.all(views.map(async (v) => toCriImage(v, await ctx.images.config(v.id), isPinned(v, ctx))));
  return { images };
};
