import { CRI_NAMESPACE } from '../../images/image-service.js';
import type { ImageRpc } from '../handler.js';
import { requiredImage } from './cri-image.js';

/** Idempotent: removing an absent image succeeds. Content and snapshots nothing else uses are freed. */
export const removeImage: ImageRpc<'RemoveImage'> = async (request, ctx, call) => {
  const image = requiredImage(request.image, 'RemoveImage');
  const freed = await ctx.images.remove(CRI_NAMESPACE, image);
  call.logger.info({ image, ...freed }, 'image removed');
  return {};
};
