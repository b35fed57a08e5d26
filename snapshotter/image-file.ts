/**
 * Reads one small file of an image's root file system, e.g. /etc/passwd of a container's mounted rootfs to resolve
 * user names before the container runs. The image is untrusted: its symlinks are followed inside `root` only (an
 * absolute `/etc/passwd -> /etc/shadow` means the image's own /etc/shadow), and only a regular file is read, at
 * most `maxBytes` of it: a FIFO would block the reader forever, a device such as /dev/zero would never end.
 */
import { constants, lstatSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotError } from './errors.js';
import { resolveScoped } from './scoped-path.js';

/** The file's bytes, or undefined when the image has no such file. */
export async function readFileInRoot(root: string, path: string, maxBytes: number): Promise<Buffer | undefined> {
  const lookup = (parts: string[]): { path: string; st: Stats } | undefined => {
    const full = join(root, ...parts);
    const st = lstatSync(full, { throwIfNoEntry: false });
    return st === undefined ? undefined : { path: full, st };
  };
  const real = resolveScoped(path.split('/'), lookup, (failure) => {
    const why = failure.reason === 'not-a-directory' ? `"${failure.at}" is not a directory` : failure.reason === 'loop' ? 'it has a symlink loop' : 'its symlinks go on too long';
    return new SnapshotError('FailedPrecondition', `cannot read ${path} in the image at ${root}: ${why}`, { context: { root, path } });
  });
  const found = real.length === 0 ? undefined : lookup(real);
  if (found === undefined) return undefined;
  if (!found.st.isFile()) {
    throw new SnapshotError('FailedPrecondition', `${path} in the image at ${root} is not a regular file; the image is broken or hostile`, { context: { root, path } });
  }
  if (found.st.size > maxBytes) {
    throw new SnapshotError('LimitExceeded', `${path} in the image at ${root} is ${found.st.size} bytes, more than the ${maxBytes} berth reads`, { context: { root, path } });
  }
  const file = await open(found.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = await file.stat();
    // Checked again on the open file: the object must still be the regular file that was inspected.
    if (st.ino !== found.st.ino || st.dev !== found.st.dev || !st.isFile()) {
      throw new SnapshotError('FailedPrecondition', `${path} in the image at ${root} changed while it was read`, { context: { root, path } });
    }
    const buf = Buffer.alloc(Math.min(st.size, maxBytes));
    const { bytesRead } = await file.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}
