import type { ResolvedImage } from '../images/image-service.js';

/** What sandboxes and containers need of the image service: find an image, pull one that is missing. */
export interface ImageSource {
  get(namespace: string, refOrId: string): Promise<ResolvedImage | undefined>;
  pull(namespace: string, reference: string): Promise<unknown>;
}
