import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Crash-safe file updates for the daemon's metadata (image records, pod records, CNI results, content blobs).
 * snapshotter/ keeps its own copy: it may not import daemon/.
 */

/** Prefix of in-progress writes; a crash can leave such files behind and a loader skips or removes them. */
export const TEMP_PREFIX = '.tmp-';

/** Makes the directory entries of `dir` (a create, rename or unlink in it) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` so that after a crash it holds either the old or the new content, never a mix: write a temp
 * file in the same directory, fsync it, rename it over `path`, fsync the directory so the rename is durable.
 */
export async function writeFileDurable(path: string, data: string | Buffer): Promise<void> {
  const temp = join(dirname(path), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}-${basename(path)}`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await unlink(temp);
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp);
    throw err;
  }
  await fsyncDir(dirname(path));
}

/** Removes `path` durably; a missing file is already removed. */
export async function removeFileDurable(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await fsyncDir(dirname(path));
}
