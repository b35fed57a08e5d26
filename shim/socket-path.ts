import fs from 'node:fs';
import path from 'node:path';

/** sun_path holds 108 bytes with its NUL; Node silently truncates a longer path, binding somewhere else. */
const SUN_PATH_MAX = 107;

/**
 * Runs `use` (a bind or a connect) with a path to `socketPath` that fits in sun_path. A longer path (a deep
 * state directory) is reached through /proc/self/fd/<fd of its directory>/<name>, which names the same file;
 * the directory stays open until `use` settles.
 */
export async function withShortSocketPath<T>(socketPath: string, use: (usable: string) => Promise<T>): Promise<T> {
  if (Buffer.byteLength(socketPath) <= SUN_PATH_MAX) return use(socketPath);
  const dir = fs.openSync(path.dirname(socketPath), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    return await use(`/proc/self/fd/${dir}/${path.basename(socketPath)}`);
  } finally {
    fs.closeSync(dir);
  }
}
