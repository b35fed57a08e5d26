import type { ImageView } from '../../images/image-store.js';
import { formatReference, parseReference } from '../../oci/reference.js';
import type { CriContext } from '../context.js';

/** The sandbox (pause) image is pinned, as in containerd, so kubelet's image GC never removes it. */
export function isPinned(view: ImageView, ctx: CriContext): boolean {
  const sandbox = formatReference(parseReference(ctx.config.cri.sandbox_image));
  return view.repoTags.includes(sandbox) || view.repoDigests.includes(sandbox);
}
