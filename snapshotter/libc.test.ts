import { mkdtemp, mkdir, open, rm, writeFile, lstat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isErrno, lgetxattr, llistxattr, lsetxattr, makedev, mknod, mount, MS_BIND, syncfs, umount2 } from './libc.js';

describe('libc bindings', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-libc-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('sets, lists and reads binary xattrs', async () => {
    const file = join(dir, 'f');
    await writeFile(file, 'x');
    const value = Buffer.from([1, 0, 0x80, 0xff]);
    lsetxattr(file, 'user.berth', value);
    expect(lgetxattr(file, 'user.berth')).toEqual(value);
    expect(lgetxattr(file, 'user.absent')).toBeUndefined();
    expect(llistxattr(file)).toContain('user.berth');
  });

  it('makes device nodes with the kernel encoding of major:minor', async () => {
    const node = join(dir, 'null');
    mknod(node, 0o20666, makedev(1, 3));
    const st = await lstat(node);
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(Number(makedev(1, 3)));
    let err: unknown;
    try {
      mknod(node, 0o20666, makedev(1, 3));
    } catch (e) {
      err = e;
    }
    expect(isErrno(err, 'EEXIST')).toBe(true);
  });

  it('bind-mounts and unmounts', async () => {
    const src = join(dir, 'src');
    const dst = join(dir, 'dst');
    await mkdir(src);
    await mkdir(dst);
    await writeFile(join(src, 'hello'), 'hi');
    mount(src, dst, null, MS_BIND, null);
    try {
      expect(await readdir(dst)).toEqual(['hello']);
    } finally {
      umount2(dst, 0);
    }
    expect(await readdir(dst)).toEqual([]);
    expect(() => umount2(dst, 0)).toThrow(/EINVAL/);
  });

  it('syncs a file system off the event loop, and reports a bad descriptor as -1', async () => {
    await writeFile(join(dir, 'f'), Buffer.alloc(1 << 20, 1));
    const handle = await open(dir, 'r');
    try {
      expect(await syncfs(handle.fd)).toBe(0);
    } finally {
      await handle.close();
    }
    expect(await syncfs(-1)).toBe(-1);
  });
});
