import type { Image } from '../../../proto/gen/runtime/v1/Image.js';
import type { ImageFilter__Output } from '../../../proto/gen/runtime/v1/ImageFilter.js';
import { CRI_NAMESPACE } from '../../images/image-service.js';
import type { CriContext } from '../context.js';
import type { ImageRpc } from '../handler.js';
import { toCriImage } from './cri-image.js';
import { isPinned } from './pinned.js';

/** Every image of the k8s.io namespace, or only the one filter.image names; shared with StreamImages. */
export async function criImages(filter: ImageFilter__Output | null, ctx: CriContext): Promise<Image[]> {
  const wanted = filter?.image?.image ?? '';
  const views = wanted === '' ? ctx.images.list(CRI_NAMESPACE) : [ctx.images.resolve(CRI_NAMESPACE, wanted)].filter((v) => v !== undefined);
  return Promise.all(views.map(async (v) => toCriImage(v, await ctx.images.config(v.id), isPinned(v, ctx))));
}

export const listImages: ImageRpc<'ListImages'> = async (request, ctx) => ({ images: await criImages(request.filter, ctx) });
