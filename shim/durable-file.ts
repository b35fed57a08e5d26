/**
 * Crash-safe small files: the content is written to a temporary name, fsync'd, renamed over the target and
 * the directory fsync'd, so a reader (the daemon after a crash or reboot of either process) sees the old file
 * or the new one, never a torn one.
 */
import fs from 'node:fs';
import path from 'node:path';

export function writeFileDurably(target: string, content: string): void {
  const tmp = `${target}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
  try {
    fs.writeFileSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
  const dir = fs.openSync(path.dirname(target), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}
