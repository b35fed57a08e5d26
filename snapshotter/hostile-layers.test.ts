/**
 * Layers that try to reach outside their snapshot. Each must be refused (InvalidLayer) or neutralised (its writes
 * land inside the image, as they would for a process chrooted there), and a sentinel directory beside the
 * snapshotter root — what a successful escape would hit — must stay exactly as it was.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, utimes, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildTar, type TarEntry } from '../test/fixtures/layer-tar.js';
import { applyLayer } from './apply-layer.js';
import { isSnapshotError } from './errors.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';

const LIMITS = { maxUnpackedBytes: 1 << 24, maxEntries: 1000 };
const OLD = new Date('2001-02-03T04:05:06Z');

let root: string;
let sentinel: string;
let snapshotter: OverlaySnapshotter;
let layers: number;
/** A name no legitimate file has, used for files a successful escape would create on the host. */
let pwned: string;
let before: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-hostile-'));
  sentinel = join(root, 'sentinel');
  await mkdir(join(sentinel, 'inner'), { recursive: true });
  await writeFile(join(sentinel, 'secret'), 'do not touch');
  await chmod(join(sentinel, 'secret'), 0o640);
  await chmod(sentinel, 0o700);
  for (const path of [join(sentinel, 'secret'), join(sentinel, 'inner'), sentinel]) await utimes(path, OLD, OLD);
  snapshotter = await OverlaySnapshotter.open(join(root, 'snapshotter'));
  layers = 0;
  pwned = `berth-pwned-${randomBytes(6).toString('hex')}`;
  before = await describeOutside();
});

afterEach(async () => {
  expect(await describeOutside()).toBe(before);
  for (const dir of ['/', '/tmp', '/etc', root, sentinel]) {
    await expect(lstat(join(dir, pwned))).rejects.toMatchObject({ code: 'ENOENT' });
  }
  await rm(root, { recursive: true, force: true });
});

/** Everything outside the snapshotter a layer could hit: the sentinel tree (names, types, modes, owners, mtimes, contents), /etc/passwd. */
async function describeOutside(): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const st = await lstat(path);
      const content = st.isFile() ? await readFile(path, 'utf8') : st.isSymbolicLink() ? await readlink(path) : '';
      lines.push(`${relative(root, path)} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${st.nlink} ${content}`);
      if (st.isDirectory()) await walk(path);
    }
  };
  const top = await lstat(sentinel);
  lines.push(`sentinel ${top.mode.toString(8)} ${top.mtimeMs}`);
  await walk(sentinel);
  lines.push((await readdir(root)).sort().join(','));
  const passwd = await lstat('/etc/passwd');
  lines.push(`passwd ${passwd.mode.toString(8)} ${passwd.nlink} ${passwd.mtimeMs} ${await readFile('/etc/passwd', 'utf8')}`);
  return lines.join('\n');
}

/** Applies `entries` as a layer over `parent`; commits it on success and returns the key, or returns the error. */
async function apply(entries: TarEntry[], parent?: string): Promise<{ key?: string; error?: unknown; upper: string }> {
  const active = `active-${++layers}`;
  await snapshotter.prepare(active, parent);
  const upper = await snapshotter.upperDir(active);
  try {
    const tarball = await buildTar(entries);
    await applyLayer(Readable.from([tarball]), { upperDir: upper, lowerDirs: await snapshotter.lowerDirs(active) }, LIMITS);
  } catch (error) {
    await snapshotter.remove(active);
    return { error, upper };
  }
  const key = `layer-${layers}`;
  await snapshotter.commit(key, active);
  return { key, upper };
}

async function expectRefused(entries: TarEntry[], parent?: string): Promise<void> {
  const { error } = await apply(entries, parent);
  expect(isSnapshotError(error, 'InvalidLayer'), String(error)).toBe(true);
}

/**
 * Applies `entries`, which must be accepted, and checks what landed where inside the image: a file's content, or
 * 'dir' / 'fifo' (the sentinel outside is checked after each test).
 */
async function expectContained(entries: TarEntry[], parent: string | undefined, inside: Record<string, string>): Promise<void> {
  const { key, error, upper } = await apply(entries, parent);
  expect(error, String(error)).toBeUndefined();
  expect(key).toBeDefined();
  for (const [path, what] of Object.entries(inside)) {
    const st = await lstat(join(upper, path));
    if (what === 'dir') expect(st.isDirectory(), path).toBe(true);
    else if (what === 'fifo') expect(st.isFIFO(), path).toBe(true);
    else expect(await readFile(join(upper, path), 'utf8')).toBe(what);
  }
}

/** From an upper dir (root/snapshotter/snapshots/N/fs) up to `root`. */
const UP_TO_ROOT = '../../../..';

describe('hostile layers', () => {
  it('refuses names that climb out with ..', async () => {
    await expectRefused([{ name: `../${pwned}`, content: 'x' }]);
    await expectRefused([{ name: `${UP_TO_ROOT}/sentinel/secret`, content: 'x' }]);
    await expectRefused([{ name: `/abs/../../${pwned}`, content: 'x' }]);
    await expectRefused([{ name: 'a/../../sentinel/', type: 'directory', mode: 0o777 }]);
    await expectRefused([{ name: `../${pwned}`, type: 'symlink', linkname: '/' }]);
    await expectRefused([{ name: `../${pwned}`, type: 'fifo' }]);
  });

  it('neutralises absolute names into the snapshot', async () => {
    const { key, upper } = await apply([{ name: '/etc/passwd', content: 'root::0:0::/:/bin/sh\n' }, { name: `/tmp/${pwned}`, content: 'x' }]);
    expect(key).toBeDefined();
    expect(await readFile(join(upper, 'etc/passwd'), 'utf8')).toContain('root::0:0');
    expect(await readFile(join(upper, 'tmp', pwned), 'utf8')).toBe('x');
    // The afterEach check removes the copy under tmp/ from consideration: it looks at the host's /tmp.
    await rm(join(upper, 'tmp', pwned));
  });

  it('keeps writes through a symlink to /, to a host path or out of the root (same layer) inside the image', async () => {
    const sentinelInImage = sentinel.slice(1);
    await expectContained([{ name: 's', type: 'symlink', linkname: '/' }, { name: `s/tmp/${pwned}`, content: 'x' }], undefined, { [`tmp/${pwned}`]: 'x' });
    await expectContained([{ name: 's', type: 'symlink', linkname: '/' }, { name: `s${sentinel}/secret`, content: 'x' }], undefined, { [`${sentinelInImage}/secret`]: 'x' });
    await expectContained([{ name: 's', type: 'symlink', linkname: UP_TO_ROOT }, { name: 's/sentinel/secret', content: 'x' }], undefined, { 'sentinel/secret': 'x' });
    await expectContained([{ name: 's', type: 'symlink', linkname: sentinel }, { name: 's/secret', content: 'x' }], undefined, { [`${sentinelInImage}/secret`]: 'x' });
    await expectContained([{ name: 's', type: 'symlink', linkname: sentinel }, { name: 's/inner/', type: 'directory', mode: 0o777 }], undefined, { [`${sentinelInImage}/inner`]: 'dir' });
    await expectContained([{ name: 's', type: 'symlink', linkname: sentinel }, { name: `s/${pwned}`, type: 'fifo' }], undefined, { [`${sentinelInImage}/${pwned}`]: 'fifo' });
    await expectContained(
      [{ name: 'd/', type: 'directory' }, { name: 'd/s', type: 'symlink', linkname: `../${UP_TO_ROOT}` }, { name: 'd/s/sentinel/secret', content: 'x' }],
      undefined,
      { 'sentinel/secret': 'x' },
    );
    await expectContained([{ name: 'a', type: 'symlink', linkname: '/b/..' }, { name: 'b', type: 'symlink', linkname: '../../../..' }, { name: `a/${pwned}`, content: 'x' }], undefined, {
      [pwned]: 'x',
    });
  });

  it('keeps writes through a symlink from a lower layer inside the image', async () => {
    const sentinelInImage = sentinel.slice(1);
    const lower = await apply([
      { name: 's', type: 'symlink', linkname: sentinel },
      { name: 'up', type: 'symlink', linkname: UP_TO_ROOT },
      { name: 'd/', type: 'directory' },
      { name: 'd/rel', type: 'symlink', linkname: '../../../../../sentinel' },
    ]);
    expect(lower.key).toBeDefined();
    await expectContained([{ name: 's/secret', content: 'x' }], lower.key, { [`${sentinelInImage}/secret`]: 'x' });
    await expectContained([{ name: 'up/sentinel/secret', content: 'x' }], lower.key, { 'sentinel/secret': 'x' });
    await expectContained([{ name: 'd/rel/secret', content: 'x' }], lower.key, { 'sentinel/secret': 'x' });
    await expectContained([{ name: 's/inner/', type: 'directory', mode: 0o777, uid: 1234 }], lower.key, { [`${sentinelInImage}/inner`]: 'dir' });
    // Whiteouts under a symlink to a directory the image lacks hide nothing, anywhere.
    await expectContained([{ name: 's/.wh.secret', content: '' }], lower.key, {});
    await expectContained([{ name: 's/.wh..wh..opq', content: '' }], lower.key, {});
    await expectRefused([{ name: 'h', type: 'link', linkname: 's/secret' }], lower.key);
  });

  it('writes through a legitimate symlinked directory (usrmerge /bin -> usr/bin) into its target', async () => {
    const lower = await apply([
      { name: 'usr/', type: 'directory' },
      { name: 'usr/bin/', type: 'directory' },
      { name: 'usr/bin/sh', content: 'sh' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    ]);
    const { key, upper } = await apply(
      [
        { name: 'bin/tool', content: 'tool', mode: 0o755 },
        { name: 'bin/.wh.sh', content: '' },
        { name: 'alias', type: 'link', linkname: '/bin/tool' },
      ],
      lower.key,
    );
    expect(key).toBeDefined();
    expect(await readFile(join(upper, 'usr/bin/tool'), 'utf8')).toBe('tool');
    expect((await lstat(join(upper, 'usr/bin/sh'))).isCharacterDevice()).toBe(true);
    expect((await lstat(join(upper, 'alias'))).ino).toBe((await lstat(join(upper, 'usr/bin/tool'))).ino);
    expect((await lstat(join(upper, 'bin')).catch(() => undefined))).toBeUndefined();
  });

  it('refuses symlink loops', async () => {
    await expectRefused([{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', content: 'x' }]);
    await expectRefused([{ name: 'self', type: 'symlink', linkname: './self/' }, { name: 'self/x', content: 'x' }]);
  });

  it('refuses hard links to host files or out of the root', async () => {
    await expectRefused([{ name: 'h', type: 'link', linkname: '/etc/passwd' }]);
    await expectRefused([{ name: 'h', type: 'link', linkname: `${UP_TO_ROOT}/sentinel/secret` }]);
    await expectRefused([{ name: 'h', type: 'link', linkname: '../outside' }]);
    await expectRefused([{ name: 's', type: 'symlink', linkname: sentinel }, { name: 'h', type: 'link', linkname: 's/secret' }]);
    await expectRefused([{ name: 'h', type: 'link', linkname: 'h' }]);
    await expectRefused([{ name: 'd/', type: 'directory' }, { name: 'd/f', content: 'x' }, { name: 'd', type: 'link', linkname: 'd/f' }]);
    await expectRefused([{ name: 'd/', type: 'directory' }, { name: 'h', type: 'link', linkname: 'd' }]);
  });

  it('links a hard link to the image\'s own /etc/passwd, never the host\'s', async () => {
    const lower = await apply([{ name: 'etc/passwd', content: 'image passwd' }]);
    const { key, upper } = await apply([{ name: 'h', type: 'link', linkname: '/etc/passwd' }], lower.key);
    expect(key).toBeDefined();
    expect(await readFile(join(upper, 'h'), 'utf8')).toBe('image passwd');
    expect((await lstat(join(upper, 'h'))).ino).toBe((await lstat(join(upper, 'etc/passwd'))).ino);
  });

  it('links to a symlink pointing out, not to what it points at', async () => {
    const { key, upper } = await apply([
      { name: 's', type: 'symlink', linkname: `${sentinel}/secret` },
      { name: 'h', type: 'link', linkname: 's' },
      { name: 'h', content: 'overwrite' },
    ]);
    expect(key).toBeDefined();
    expect(await readFile(join(upper, 'h'), 'utf8')).toBe('overwrite');
    expect(await readlink(join(upper, 's'))).toBe(`${sentinel}/secret`);
  });

  it('refuses whiteouts that escape or name nothing', async () => {
    await expectRefused([{ name: '../.wh.x', content: '' }]);
    await expectRefused([{ name: `${UP_TO_ROOT}/sentinel/.wh.secret`, content: '' }]);
    await expectRefused([{ name: '.wh...', content: '' }]);
    await expectRefused([{ name: 'a/.wh..', content: '' }]);
    await expectRefused([{ name: '.wh.', content: '' }]);
    await expectRefused([{ name: '.wh.d/file', content: '' }]);
    // Through a symlink, a whiteout resolves inside the image (where there is nothing to hide).
    await expectContained([{ name: 's', type: 'symlink', linkname: sentinel }, { name: 's/.wh.secret', content: '' }], undefined, {});
    await expectContained([{ name: 's', type: 'symlink', linkname: sentinel }, { name: 's/.wh..wh..opq', content: '' }], undefined, {});
  });

  it('replaces a symlink by a directory or file entry instead of changing what it points at', async () => {
    const { key, upper } = await apply([
      { name: 's', type: 'symlink', linkname: sentinel },
      { name: 's/', type: 'directory', mode: 0o777, uid: 4321, mtime: new Date() },
      { name: 'f', type: 'symlink', linkname: `${sentinel}/secret` },
      { name: 'f', content: 'replaced', mode: 0o4777 },
      { name: 'dev', type: 'symlink', linkname: `${sentinel}/secret` },
      { name: 'dev', type: 'fifo', mode: 0o777 },
    ]);
    expect(key).toBeDefined();
    const s = await lstat(join(upper, 's'));
    expect(s.isDirectory()).toBe(true);
    expect([s.mode & 0o7777, s.uid]).toEqual([0o777, 4321]);
    expect(await readFile(join(upper, 'f'), 'utf8')).toBe('replaced');
    expect((await lstat(join(upper, 'dev'))).isFIFO()).toBe(true);
  });

  it('shadows a lower symlink with a directory entry without following it', async () => {
    const lower = await apply([{ name: 's', type: 'symlink', linkname: sentinel }]);
    const { key, upper } = await apply([{ name: 's/', type: 'directory', mode: 0o777, uid: 1234 }, { name: 'x', content: '' }], lower.key);
    expect(key).toBeDefined();
    expect((await lstat(join(upper, 's'))).isDirectory()).toBe(true);
  });

  it('ignores overlayfs control xattrs carried in a layer', async () => {
    const { key, upper } = await apply([{ name: 'd/', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.redirect': '/../../', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }]);
    expect(key).toBeDefined();
    const { lgetxattr } = await import('./libc.js');
    expect(lgetxattr(join(upper, 'd'), 'trusted.overlay.redirect')).toBeUndefined();
    expect(lgetxattr(join(upper, 'd'), 'trusted.overlay.opaque')).toBeUndefined();
  });

  it('never touches anything outside the snapshot, whatever the names (property)', async () => {
    // Mostly names that could reach the sentinel through a symlink named s or up; some `..`, `.` and whiteouts.
    const component = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('s', 'up', 'sentinel', 'secret', 'inner', 'a') },
      { weight: 1, arbitrary: fc.constantFrom('..', '.', '', '.wh.a', '.wh.s', '.wh.secret', '.wh..wh..opq', '.wh...') },
    );
    const name = fc.array(component, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));
    const entry: fc.Arbitrary<TarEntry> = fc.oneof(
      fc.record({ name, content: fc.constant('x'), mode: fc.constantFrom(0o777, 0o4755) }),
      fc.record({ name, type: fc.constant<'directory'>('directory'), mode: fc.constant(0o777) }),
      fc.record({ name, type: fc.constant<'symlink'>('symlink'), linkname: fc.constantFrom(sentinel, UP_TO_ROOT, '/', `${UP_TO_ROOT}/sentinel`, 'a') }),
      fc.record({ name, type: fc.constant<'link'>('link'), linkname: name }),
      fc.record({ name, type: fc.constant<'fifo'>('fifo') }),
    );
    let parent: string | undefined;
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), async (entries) => {
        const result = await apply(entries, parent);
        if (result.error !== undefined && !isSnapshotError(result.error, 'InvalidLayer')) throw result.error;
        // Stack accepted layers so later runs meet symlinks in lower layers too.
        if (result.key !== undefined && layers < 40) parent = result.key;
        expect(await describeOutside()).toBe(before);
      }),
      // BERTH_FUZZ_RUNS=3000 for a longer hunt (about 45 s).
      { numRuns: Number(process.env['BERTH_FUZZ_RUNS'] ?? 300) },
    );
  });
});
