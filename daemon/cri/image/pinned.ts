import { isBerthError } from '../../errors/errors.js';
import type { ImageView } from '../../images/image-store.js';
import { formatReference, parseReference } from '../../oci/reference.js';
import type { CriContext } from '../context.js';

/** The sandbox (pause) image is pinned, as in containerd, so kubelet's image GC never removes it. */
export function isPinned(view: ImageView, ctx: CriContext): boolean {
  const sandbox = sandboxImageName(ctx.config.cri.sandbox_image);
  return view.repoTags.includes(sandbox) || view.repoDigests.includes(sandbox);
}

function sandboxImageName(configured: string): string {
  try {
    return formatReference(parseReference(configured));
  } catch (err) {
    // A sandbox_image that is no reference can never have been pulled, so it names no image here; pods fail
    // where that image is pulled, with the reference error.
    if (isBerthError(err, 'InvalidArgument')) return configured;
    throw err;
  }
}
