import type { ImageStatusResponse } from '../../../proto/gen/runtime/v1/ImageStatusResponse.js';
import { CRI_NAMESPACE } from '../../images/image-service.js';
import type { ImageRpc } from '../handler.js';
import { requiredImage, toCriImage } from './cri-image.js';
import { isPinned } from './pinned.js';

/** An absent image is `image: null`, not an error: kubelet asks before every pull. */
export const imageStatus: ImageRpc<'ImageStatus'> = async (request, ctx): Promise<ImageStatusResponse> => {
  const wanted = requiredImage(request.image, 'ImageStatus');
  const found = await ctx.images.get(CRI_NAMESPACE, wanted);
  if (found === undefined) return { image: null, info: {} };
  const image = toCriImage(found.view, found.config, isPinned(found.view, ctx));
  if (!request.verbose) return { image, info: {} };
  const newest = found.view.records[0];
  const info = { id: found.id, chainID: found.chainID, target: newest?.target, manifest: newest?.manifest, imageSpec: found.config };
  return { image, info: { info: JSON.stringify(info) } };
};
