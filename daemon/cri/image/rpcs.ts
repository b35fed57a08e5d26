import type { ImageRpcTable } from '../handler.js';
import { imageFsInfo } from './image-fs-info.js';
import { imageStatus } from './image-status.js';
import { listImages } from './list-images.js';
import { pullImage } from './pull-image.js';
import { removeImage } from './remove-image.js';
import { streamImages } from './stream-images.js';

/**
 * runtime.v1.ImageService as berth serves it: one file per RPC in this folder, one line per RPC here.
 * An RPC missing from this table answers UNIMPLEMENTED.
 */
export const imageRpcs: ImageRpcTable = {
  PullImage: pullImage,
  ListImages: listImages,
  StreamImages: streamImages,
  ImageStatus: imageStatus,
  RemoveImage: removeImage,
  ImageFsInfo: imageFsInfo,
};
