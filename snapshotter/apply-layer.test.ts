import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTar, type TarEntry } from '../test/fixtures/layer-tar.js';
import { applyLayer, type ApplyResult } from './apply-layer.js';
import { isSnapshotError } from './errors.js';
import { lgetxattr } from './libc.js';
import { mountAll, unmount } from './mount.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';

const LIMITS = { maxUnpackedBytes: 64 * 1024 * 1024, maxEntries: 10_000 };
const T1 = new Date('2021-05-06T07:08:09Z');
const T2 = new Date('2019-01-01T00:00:00Z');

let root: string;
let snapshotter: OverlaySnapshotter;
let mounted: string[];
let layerCount: number;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-apply-'));
  snapshotter = await OverlaySnapshotter.open(join(root, 'snapshotter'));
  mounted = [];
  layerCount = 0;
});

afterEach(async () => {
  for (const target of mounted) unmount(target);
  await rm(root, { recursive: true, force: true });
});

/** Applies `entries` as a new layer on `parent` and commits it; returns the committed key. */
async function applyOn(parent: string | undefined, entries: TarEntry[], gzip = false): Promise<{ key: string; result: ApplyResult }> {
  const active = `extract-${++layerCount}`;
  await snapshotter.prepare(active, parent);
  const tarball = await buildTar(entries, { gzip });
  const result = await applyLayer(Readable.from([tarball]), { upperDir: await snapshotter.upperDir(active), lowerDirs: await snapshotter.lowerDirs(active) }, LIMITS);
  const key = `layer-${layerCount}`;
  await snapshotter.commit(key, active);
  return { key, result };
}

/** Mounts the merged view of committed `key` (through a real overlay when it has parents) and returns the mount point. */
async function mountView(key: string): Promise<string> {
  const target = join(root, `view-${key}`);
  await mkdir(target);
  await mountAll(await snapshotter.view(`view-${key}`, key), target);
  mounted.push(target);
  return target;
}

describe('applyLayer', () => {
  it('unpacks files, dirs, symlinks and hard links with owner, mode, xattrs and times, and returns the diff ID', async () => {
    const entries: TarEntry[] = [
      { name: 'bin/', type: 'directory', mode: 0o755, mtime: T2 },
      { name: 'bin/tool', content: 'echo hi', mode: 0o4755, uid: 1000, gid: 1001, mtime: T1, pax: { 'SCHILY.xattr.user.origin': 'layer-one' } },
      { name: 'bin/sgid', content: 'g', mode: 0o2711, uid: 5, gid: 6 },
      { name: 'tmp/', type: 'directory', mode: 0o1777, mtime: T1 },
      { name: 'bin/link', type: 'link', linkname: 'bin/tool' },
      { name: 'bin/sym', type: 'symlink', linkname: '/does/not/exist', uid: 7, gid: 8, mtime: T1 },
      { name: 'dev/', type: 'directory' },
      { name: 'dev/fifo', type: 'fifo', mode: 0o640 },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    ];
    const tarball = await buildTar(entries);
    const { key, result } = await applyOn(undefined, entries);
    expect(result).toEqual({ diffID: `sha256:${createHash('sha256').update(tarball).digest('hex')}`, size: tarball.length });

    const view = await mountView(key);
    const tool = await lstat(join(view, 'bin/tool'));
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect([tool.uid, tool.gid]).toEqual([1000, 1001]);
    expect(tool.mtime.getTime()).toBe(T1.getTime());
    expect(tool.nlink).toBe(2);
    expect((await lstat(join(view, 'bin/link'))).ino).toBe(tool.ino);
    expect(lgetxattr(join(view, 'bin/tool'), 'user.origin')?.toString()).toBe('layer-one');
    expect((await lstat(join(view, 'bin/sgid'))).mode & 0o7777).toBe(0o2711);
    expect((await lstat(join(view, 'tmp'))).mode & 0o7777).toBe(0o1777);
    // Directory times are set after their contents were written.
    expect((await lstat(join(view, 'bin'))).mtime.getTime()).toBe(T2.getTime());
    const sym = await lstat(join(view, 'bin/sym'));
    expect(sym.isSymbolicLink()).toBe(true);
    expect([sym.uid, sym.gid, sym.mtime.getTime()]).toEqual([7, 8, T1.getTime()]);
    expect(await readlink(join(view, 'bin/sym'))).toBe('/does/not/exist');
    expect((await lstat(join(view, 'dev/fifo'))).isFIFO()).toBe(true);
    const devNull = await lstat(join(view, 'dev/null'));
    expect(devNull.isCharacterDevice()).toBe(true);
    expect(devNull.mode & 0o777).toBe(0o666);
  });

  it('detects gzip by its magic bytes', async () => {
    const entries: TarEntry[] = [{ name: 'hello', content: 'world' }];
    const plain = await buildTar(entries);
    const { key, result } = await applyOn(undefined, entries, true);
    expect(result.diffID).toBe(`sha256:${createHash('sha256').update(plain).digest('hex')}`);
    expect(await readFile(join(await mountView(key), 'hello'), 'utf8')).toBe('world');
  });

  it('applies whiteouts and opaque directories so a real overlay mount hides the lower files', async () => {
    const base = await applyOn(undefined, [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/keep', content: 'keep' },
      { name: 'etc/gone', content: 'gone' },
      { name: 'opaque/', type: 'directory', mode: 0o750 },
      { name: 'opaque/old', content: 'old' },
      { name: 'tree/', type: 'directory' },
      { name: 'tree/deep/file', content: 'x' },
      { name: 'shared', content: 'v1', uid: 3 },
    ]);
    const top = await applyOn(base.key, [
      { name: 'etc/.wh.gone', content: '' },
      { name: 'opaque/.wh..wh..opq', content: '' },
      { name: 'opaque/new', content: 'new' },
      { name: '.wh.tree', content: '' },
      { name: 'tree/fresh', content: 'fresh' },
      { name: 'alias', type: 'link', linkname: 'shared' },
    ]);
    const view = await mountView(top.key);
    expect((await readdir(join(view, 'etc'))).sort()).toEqual(['keep']);
    expect(await readdir(join(view, 'opaque'))).toEqual(['new']);
    // A directory deleted and re-created in one layer shows only the new contents.
    expect(await readdir(join(view, 'tree'))).toEqual(['fresh']);
    // A hard link to a lower file copies the file up; the lower layer is untouched.
    const alias = await lstat(join(view, 'alias'));
    expect(alias.uid).toBe(3);
    expect(await readFile(join(view, 'alias'), 'utf8')).toBe('v1');
    expect((await lstat(join(view, 'shared'))).ino).toBe(alias.ino);
    const baseDir = (await snapshotter.lowerDirs(`view-${top.key}`))[1]!;
    expect((await lstat(join(baseDir, 'shared'))).nlink).toBe(1);
    // Implicitly copied-up parents keep the lower directory's mode.
    expect((await lstat(join(view, 'opaque'))).mode & 0o777).toBe(0o750);
  });

  it('copies a lower directory up with its owner, mode, xattrs and times when a layer writes into it', async () => {
    const base = await applyOn(undefined, [{ name: 'srv/', type: 'directory', mode: 0o710, uid: 33, gid: 34, mtime: T2, pax: { 'SCHILY.xattr.user.tag': 'kept' } }]);
    const top = await applyOn(base.key, [{ name: 'srv/new', content: 'n' }]);
    const view = await mountView(top.key);
    // The top layer's own directory holds the copied-up srv/ (not only the merged view shows it).
    const upperSrv = join((await snapshotter.lowerDirs(`view-${top.key}`))[0]!, 'srv');
    const srv = await lstat(join(view, 'srv'));
    expect([srv.mode & 0o7777, srv.uid, srv.gid, srv.mtime.getTime()]).toEqual([0o710, 33, 34, T2.getTime()]);
    expect(lgetxattr(join(view, 'srv'), 'user.tag')?.toString()).toBe('kept');
    expect((await lstat(upperSrv)).uid).toBe(33);
  });

  it('makes a directory that replaces a same-layer file opaque, so the lower directory stays hidden', async () => {
    const base = await applyOn(undefined, [{ name: 'x/old', content: 'old' }]);
    const top = await applyOn(base.key, [{ name: 'x', content: 'file' }, { name: 'x/', type: 'directory' }, { name: 'x/new', content: 'new' }]);
    expect(await readdir(join(await mountView(top.key), 'x'))).toEqual(['new']);
  });

  it('keeps binary xattrs exact (SCHILY and LIBARCHIVE records), file capabilities included, and ignores overlay ones', async () => {
    const warnings: string[] = [];
    const log = { warn: (_: Record<string, unknown>, message: string) => void warnings.push(message) };
    await snapshotter.prepare('x');
    const upperDir = await snapshotter.upperDir('x');
    const binary = Buffer.from([0x01, 0x00, 0x80, 0xff, 0x00]);
    // VFS_CAP_REVISION_2 with cap_setuid (bit 7: a byte that is not valid UTF-8) permitted and effective.
    const capability = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const tarball = await buildTar([
      {
        name: 'f',
        content: 'x',
        uid: 1000,
        pax: {
          'SCHILY.xattr.user.raw': 'P'.repeat(binary.length),
          'SCHILY.xattr.security.capability': 'Q'.repeat(capability.length),
          'LIBARCHIVE.xattr.user.bin%20ary': binary.toString('base64'),
          'SCHILY.xattr.trusted.overlay.opaque': 'y',
        },
      },
    ]);
    // tar-stream's packer writes PAX values as text: put the binary bytes in place of the placeholders.
    binary.copy(tarball, tarball.indexOf('P'.repeat(binary.length)));
    capability.copy(tarball, tarball.indexOf('Q'.repeat(capability.length)));
    await applyLayer(Readable.from([tarball]), { upperDir, lowerDirs: [] }, { ...LIMITS, log });
    const f = join(upperDir, 'f');
    expect(lgetxattr(f, 'user.raw')).toEqual(binary);
    expect(lgetxattr(f, 'user.bin ary')).toEqual(binary);
    // Set after chown, which would have cleared it.
    expect(lgetxattr(f, 'security.capability')).toEqual(capability);
    expect(lgetxattr(f, 'trusted.overlay.opaque')).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it('applies a root directory entry to the upper root, and sub-second PAX times', async () => {
    await snapshotter.prepare('r');
    const upperDir = await snapshotter.upperDir('r');
    const tarball = await buildTar([
      { name: './', type: 'directory', mode: 0o750, uid: 9 },
      { name: 'f', content: 'x', pax: { mtime: '1600000000.25', atime: '1500000000.5' } },
    ]);
    await applyLayer(Readable.from([tarball]), { upperDir, lowerDirs: [] }, LIMITS);
    const rootSt = await lstat(upperDir);
    expect([rootSt.mode & 0o7777, rootSt.uid]).toEqual([0o750, 9]);
    const f = await lstat(join(upperDir, 'f'));
    expect(f.mtimeMs).toBe(1600000000250);
    expect(f.atimeMs).toBe(1500000000500);
  });

  it('copies up a lower symlink that a hard link names', async () => {
    const base = await applyOn(undefined, [{ name: 'sym', type: 'symlink', linkname: '/target', uid: 4 }]);
    const top = await applyOn(base.key, [{ name: 'hard', type: 'link', linkname: 'sym' }]);
    const view = await mountView(top.key);
    expect(await readlink(join(view, 'hard'))).toBe('/target');
    expect((await lstat(join(view, 'hard'))).ino).toBe((await lstat(join(view, 'sym'))).ino);
    expect((await lstat(join(view, 'hard'))).uid).toBe(4);
  });

  /** A tar header for one entry claiming `size` bytes, with its checksum fixed up. */
  async function headerClaiming(name: string, size: number): Promise<Buffer> {
    const header = Buffer.from((await buildTar([{ name, content: '' }])).subarray(0, 512));
    header.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
    header.fill(' ', 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    return header;
  }

  /** 1 GiB of zeros after `prefix`, gzip-compressed as it is read (about 1 MiB on the wire). */
  function gzipBomb(prefix: Buffer): Readable {
    const zeros = Buffer.alloc(1024 * 1024);
    return Readable.from(
      (async function* () {
        yield prefix;
        for (let i = 0; i < 1024; i++) yield zeros;
      })(),
    ).pipe(createGzip({ level: 1 }));
  }

  async function expectBombStopped(source: Readable): Promise<void> {
    await snapshotter.prepare('bomb');
    const upperDir = await snapshotter.upperDir('bomb');
    const started = Date.now();
    const limit = 8 * 1024 * 1024;
    const err = await applyLayer(source, { upperDir, lowerDirs: [] }, { maxUnpackedBytes: limit, maxEntries: 100 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSnapshotError(err, 'LimitExceeded')).toBe(true);
    expect((err as Error).message).toContain('[images] max_layer_unpacked_bytes');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await snapshotter.usage('bomb')).size).toBeLessThanOrEqual(limit);
  }

  it('stops a gzip bomb whose entry claims 1 GiB before writing it', async () => {
    await expectBombStopped(gzipBomb(await headerClaiming('zeros', 1024 ** 3)));
  });

  it('stops a gzip bomb of 1 GiB of tar padding at the unpacked-bytes limit', async () => {
    // Zero blocks are end-of-archive markers: nothing is written, only the byte meter can stop this one.
    await expectBombStopped(gzipBomb(await buildTar([{ name: 'small', content: 'x' }])));
  });

  it('stops a gzip bomb of many 1 MiB files at the unpacked-bytes limit', async () => {
    const content = Buffer.alloc(1024 * 1024);
    const files = Readable.from(
      (async function* () {
        for (let i = 0; i < 1024; i++) yield Buffer.concat([await headerClaiming(`f${i}`, content.length), content]);
      })(),
    ).pipe(createGzip({ level: 1 }));
    await expectBombStopped(files);
  });

  it('stops at the entry limit', async () => {
    await snapshotter.prepare('many');
    const tarball = await buildTar(Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, content: 'x' })));
    const err = await applyLayer(Readable.from([tarball]), { upperDir: await snapshotter.upperDir('many'), lowerDirs: [] }, { maxUnpackedBytes: 1 << 20, maxEntries: 10 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isSnapshotError(err, 'LimitExceeded')).toBe(true);
    expect((err as Error).message).toContain('max_layer_entries');
  });

  it('reports a failing last entry of a tar that lacks the end-of-archive blocks', async () => {
    await snapshotter.prepare('short');
    const target = { upperDir: await snapshotter.upperDir('short'), lowerDirs: [] };
    const tarball = await buildTar([{ name: 'h', type: 'link', linkname: 'missing' }]);
    const withoutEnd = tarball.subarray(0, tarball.length - 1024);
    expect(withoutEnd.subarray(-512).some((byte) => byte !== 0)).toBe(true);
    await expect(applyLayer(Readable.from([withoutEnd]), target, LIMITS)).rejects.toMatchObject({ code: 'InvalidLayer' });
  });

  it('refuses malformed headers as invalid layers rather than failing with file system errors', async () => {
    await snapshotter.prepare('bad');
    const target = { upperDir: await snapshotter.upperDir('bad'), lowerDirs: [] };
    const cases: TarEntry[][] = [
      [{ name: 'empty-target', type: 'symlink', linkname: '' }],
      [{ name: `${'n'.repeat(300)}`, content: 'x' }],
    ];
    for (const entries of cases) {
      await expect(applyLayer(Readable.from([await buildTar(entries)]), target, LIMITS)).rejects.toMatchObject({ code: 'InvalidLayer' });
    }
    // An unusable PAX time falls back to the header's time instead of failing.
    const odd = await buildTar([{ name: 'odd-time', content: 'x', pax: { mtime: '1e300' } }]);
    await applyLayer(Readable.from([odd]), target, LIMITS);
    expect((await lstat(join(target.upperDir, 'odd-time'))).mtime.getTime()).toBe(new Date('2020-01-02T03:04:05Z').getTime());
  });

  it('refuses zstd layers and corrupt tars clearly', async () => {
    await snapshotter.prepare('odd');
    const target = { upperDir: await snapshotter.upperDir('odd'), lowerDirs: [] };
    const zstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]);
    await expect(applyLayer(Readable.from([zstd]), target, LIMITS)).rejects.toMatchObject({ code: 'Unsupported' });
    const garbage = Buffer.alloc(1024, 'A');
    await expect(applyLayer(Readable.from([garbage]), target, LIMITS)).rejects.toMatchObject({ code: 'InvalidLayer' });
    const truncated = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3]);
    await expect(applyLayer(Readable.from([truncated]), target, LIMITS)).rejects.toMatchObject({ code: 'InvalidLayer' });
  });
});
