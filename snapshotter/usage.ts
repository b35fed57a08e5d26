import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Usage } from './snapshotter.js';

/**
 * Disk usage of a directory tree without following symlinks: `size` is the apparent size of every non-directory
 * inode, `inodes` counts every inode (the root included); an inode reached through several hard links counts once.
 */
export async function directoryUsage(root: string): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  let inodes = 0;
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    inodes++;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        pending.push(path);
        continue;
      }
      const child = await lstat(path);
      if (child.nlink > 1) {
        // Only multiply-linked inodes can be met twice; remembering just those keeps the set small.
        const id = `${child.dev}:${child.ino}`;
        if (seen.has(id)) continue;
        seen.add(id);
      }
      inodes++;
      size += child.size;
    }
  }
  return { size, inodes };
}
