import { CRI_NAMESPACE } from '../../images/image-service.js';
import type { ImageRpc } from '../handler.js';
import { registryAuth, requiredImage } from './cri-image.js';

/** Pulls into the k8s.io namespace; image_ref is the image ID (config digest), as containerd returns it. */
export const pullImage: ImageRpc<'PullImage'> = async (request, ctx, call) => {
  const image = requiredImage(request.image, 'PullImage');
  const auth = registryAuth(request.auth);
  call.logger.info({ image, pod: request.sandbox_config?.metadata?.name, withAuth: auth !== undefined }, 'pulling image');
  const record = await ctx.images.pull(CRI_NAMESPACE, image, auth === undefined ? {} : { auth });
  return { image_ref: record.configDigest };
};
