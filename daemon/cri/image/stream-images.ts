import type { ImageRpc } from '../handler.js';
import { criImages } from './list-images.js';

/** Images per message: keeps each message far below the gRPC size limit however many images a node holds. */
const PAGE = 100;

/** ListImages in pages, for nodes whose image list would not fit one message. */
export const streamImages: ImageRpc<'StreamImages'> = async (request, ctx, sink) => {
  const images = await criImages(request.filter, ctx);
  for (let i = 0; i < images.length; i += PAGE) await sink.write({ images: images.slice(i, i + PAGE) });
};
