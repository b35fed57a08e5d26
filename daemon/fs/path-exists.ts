import { access } from 'node:fs/promises';

/** Whether `path` exists; any failure but ENOENT (EACCES, ENOTDIR...) is thrown, not taken for "no". */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
