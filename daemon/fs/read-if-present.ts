import { readFile } from 'node:fs/promises';

/** The text of `path`, or undefined when it does not exist; any other failure (EACCES, EISDIR...) is thrown. */
export async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
