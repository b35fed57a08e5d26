import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFileInRoot } from './image-file.js';
import { makedev, mknod } from './libc.js';

let dir: string;
let root: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-imagefile-'));
  root = join(dir, 'rootfs');
  await mkdir(join(root, 'etc'), { recursive: true });
  await writeFile(join(dir, 'host-secret'), 'host');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const read = async (path: string): Promise<string | undefined> => (await readFileInRoot(root, path, 1024))?.toString();

describe('readFileInRoot', () => {
  it('reads a file, and nothing when the image lacks it', async () => {
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0::/:/bin/sh\n');
    expect(await read('etc/passwd')).toBe('root:x:0:0::/:/bin/sh\n');
    expect(await read('/etc/passwd')).toBe('root:x:0:0::/:/bin/sh\n');
    expect(await read('etc/group')).toBeUndefined();
    expect(await read('missing/dir/file')).toBeUndefined();
  });

  it('follows symlinks inside the image only', async () => {
    await writeFile(join(root, 'etc/real'), 'image');
    await symlink('/etc/real', join(root, 'etc/passwd'));
    expect(await read('etc/passwd')).toBe('image');
    await symlink(join(dir, 'host-secret'), join(root, 'etc/group'));
    expect(await read('etc/group')).toBeUndefined();
    await symlink('../../../../../../host-secret', join(root, 'etc/shadow'));
    expect(await read('etc/shadow')).toBeUndefined();
    await symlink(dir, join(root, 'host'));
    expect(await read('host/host-secret')).toBeUndefined();
    await symlink('/', join(root, 'up'));
    expect(await read('up/etc/real')).toBe('image');
  });

  it('refuses a FIFO, a device, a directory, a symlink loop and an oversized file without hanging', async () => {
    mknod(join(root, 'etc/passwd'), 0o010644, 0n);
    await expect(read('etc/passwd')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    mknod(join(root, 'etc/group'), 0o020644, makedev(1, 5));
    await expect(read('etc/group')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(read('etc')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await symlink('loop', join(root, 'loop'));
    await expect(read('loop')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await writeFile(join(root, 'big'), Buffer.alloc(2048));
    await expect(read('big')).rejects.toMatchObject({ code: 'LimitExceeded' });
  });
});
