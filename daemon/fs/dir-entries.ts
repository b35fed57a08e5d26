import { readdir } from 'node:fs/promises';

/** The names in `dir`, or none when it does not exist (yet, or any more). */
export async function dirEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
