/**
 * Mounting a snapshot's Mount[] on a target (a container's rootfs) and unmounting it.
 *
 * mount(2) takes overlay's options as one string of at most a page; an image with many layers can exceed that with
 * absolute lower dirs. Then the overlay is mounted by util-linux mount(8) in a child whose working directory is the
 * snapshots directory, with every dir relative to it (the kernel resolves relative dirs against the mounting
 * process's cwd, and a daemon cannot chdir without disturbing itself). Beyond a page even then, or beyond the
 * kernel's 500 layers, the mount fails with LimitExceeded.
 */
import { execa } from 'execa';
import { dirname, relative } from 'node:path';
import { SnapshotError } from './errors.js';
import { isErrno, mount, MNT_DETACH, MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT, umount2 } from './libc.js';
import type { Mount } from './snapshotter.js';

const PAGE_SIZE = 4096;
/** overlayfs' OVL_MAX_STACK. */
const MAX_OVERLAY_LAYERS = 500;
const DIR_OPTIONS = ['lowerdir', 'upperdir', 'workdir'];

/** Mounts `mounts` on `target` in order; if one fails, the ones already mounted are unmounted again. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      await mountOne(m, target);
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) unmountOnce(target, MNT_DETACH);
    throw err;
  }
}

/**
 * Unmounts everything mounted on `target` (stacked mounts too). A target that is not (or no longer) a mount point
 * is fine, so cleanup can be repeated. A busy mount is detached lazily: the kernel frees it when its last user goes.
 */
export function unmount(target: string): void {
  while (unmountOnce(target, 0)) {
    // Loop until the target is no mount point any more.
  }
}

function unmountOnce(target: string, flags: number): boolean {
  try {
    umount2(target, flags);
    return true;
  } catch (err) {
    if (isErrno(err, 'EINVAL', 'ENOENT')) return false;
    if (isErrno(err, 'EBUSY') && flags !== MNT_DETACH) return unmountOnce(target, MNT_DETACH);
    throw err;
  }
}

async function mountOne(m: Mount, target: string): Promise<void> {
  if (m.type === 'bind') {
    const readOnly = m.options.includes('ro');
    const flags = MS_BIND | (m.options.includes('rbind') ? MS_REC : 0);
    mount(m.source, target, null, flags, null);
    // A bind mount ignores MS_RDONLY at creation; read-only takes a remount of the new mount.
    if (readOnly) {
      try {
        mount('', target, null, flags | MS_REMOUNT | MS_RDONLY, null);
      } catch (err) {
        unmountOnce(target, MNT_DETACH);
        throw err;
      }
    }
    return;
  }
  const layers = lowerDirsOf(m).length;
  if (layers > MAX_OVERLAY_LAYERS) {
    throw new SnapshotError('LimitExceeded', `cannot mount ${target}: the image has ${layers} layers, overlayfs stacks at most ${MAX_OVERLAY_LAYERS}; flatten the image`, {
      context: { target, layers },
    });
  }
  const data = m.options.join(',');
  if (Buffer.byteLength(data) < PAGE_SIZE) {
    mount(m.source, target, m.type, 0, data);
    return;
  }
  const base = commonBase(m);
  const relativeData = m.options.map((option) => relativeOption(option, base)).join(',');
  if (Buffer.byteLength(relativeData) >= PAGE_SIZE) {
    throw new SnapshotError('LimitExceeded', `cannot mount ${target}: its ${layers} layers' overlay options exceed a page (${PAGE_SIZE} bytes) even with relative paths; flatten the image or use a shorter snapshotter root`, {
      context: { target, layers },
    });
  }
  await execa('mount', ['-t', 'overlay', '-o', relativeData, m.source, target], { cwd: base });
}

function lowerDirsOf(m: Mount): string[] {
  const option = m.options.find((o) => o.startsWith('lowerdir='));
  return option === undefined ? [] : option.slice('lowerdir='.length).split(':');
}

/** The directory that holds every snapshot dir an overlay names: the parent of a layer's `<id>/fs`. */
function commonBase(m: Mount): string {
  const first = lowerDirsOf(m)[0];
  if (first === undefined) throw new SnapshotError('FailedPrecondition', 'an overlay mount without lowerdir cannot be mounted');
  return dirname(dirname(first));
}

function relativeOption(option: string, base: string): string {
  const eq = option.indexOf('=');
  const key = option.slice(0, eq);
  if (eq < 0 || !DIR_OPTIONS.includes(key)) return option;
  const dirs = option.slice(eq + 1).split(':').map((dir) => {
    const rel = relative(base, dir);
    return rel.startsWith('..') ? dir : rel;
  });
  return `${key}=${dirs.join(':')}`;
}
