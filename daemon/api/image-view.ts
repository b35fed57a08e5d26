import type { Image } from '../../proto/gen/berth/v1/Image.js';
import type { ImageView } from '../images/image-store.js';

/** An image of a namespace as the berth API reports it: one entry per image ID with all its names. */
export function berthImage(view: ImageView): Image {
  const newest = view.records[0];
  const p = newest?.platform;
  return {
    id: view.id,
    names: view.records.map((r) => r.name),
    size: newest?.size ?? 0,
    created_at: newest?.createdAt ?? 0,
    platform: p === undefined ? '' : [p.os, p.architecture, p.variant].filter(Boolean).join('/'),
  };
}
