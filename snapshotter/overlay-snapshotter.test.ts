import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, link, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountAll, unmount } from './mount.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';

let root: string;
let snapRoot: string;
let snapshotter: OverlaySnapshotter;
let mounted: string[];

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-snap-'));
  snapRoot = join(root, 'snapshotter');
  snapshotter = await OverlaySnapshotter.open(snapRoot);
  mounted = [];
});

afterEach(async () => {
  for (const target of mounted) unmount(target);
  await rm(root, { recursive: true, force: true });
});

/** A committed layer `name` over `parent` holding `files`. */
async function layer(name: string, parent: string | undefined, files: Record<string, string>): Promise<void> {
  await snapshotter.prepare(`tmp-${name}`, parent);
  const upper = await snapshotter.upperDir(`tmp-${name}`);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(upper, path, '..'), { recursive: true });
    await writeFile(join(upper, path), content);
  }
  await snapshotter.commit(name, `tmp-${name}`);
}

async function mountAt(name: string, mounts: Parameters<typeof mountAll>[0]): Promise<string> {
  const target = join(root, name);
  await mkdir(target);
  await mountAll(mounts, target);
  mounted.push(target);
  return target;
}

describe('OverlaySnapshotter', () => {
  it('prepares, commits and stacks layers; an active snapshot mounts as a writable overlay', async () => {
    await layer('l1', undefined, { 'a': 'one', 'shared': 'l1' });
    await layer('l2', 'l1', { 'b': 'two', 'shared': 'l2' });
    const mounts = await snapshotter.prepare('container', 'l2', { role: 'rootfs' });
    expect(mounts).toHaveLength(1);
    expect(mounts[0]!.type).toBe('overlay');
    const rootfs = await mountAt('rootfs', mounts);
    expect((await readdir(rootfs)).sort()).toEqual(['a', 'b', 'shared']);
    expect(await readFile(join(rootfs, 'shared'), 'utf8')).toBe('l2');
    await writeFile(join(rootfs, 'new'), 'written');
    expect(await readdir(await snapshotter.upperDir('container'))).toEqual(['new']);
    const [l2, l1] = await snapshotter.lowerDirs('container');
    expect(await readdir(l2!)).not.toContain('new');
    expect(await readdir(l1!)).toEqual(['a', 'shared']);
    expect(await snapshotter.stat('container')).toMatchObject({ key: 'container', parent: 'l2', kind: 'active', labels: { role: 'rootfs' } });
    expect(await snapshotter.stat('l1')).toMatchObject({ kind: 'committed' });
    expect(await snapshotter.stat('tmp-l1')).toBeUndefined();
    expect((await snapshotter.list()).map((s) => s.key).sort()).toEqual(['container', 'l1', 'l2']);
  });

  it('mounts an empty active snapshot as a rw bind and views read-only', async () => {
    const bind = await snapshotter.prepare('scratch');
    expect(bind).toEqual([{ type: 'bind', source: await snapshotter.upperDir('scratch'), options: ['rbind', 'rw'] }]);
    const scratch = await mountAt('scratch', bind);
    await writeFile(join(scratch, 'f'), 'x');
    await layer('l1', undefined, { 'a': '1' });
    await layer('l2', 'l1', { 'b': '2' });
    const single = await snapshotter.view('v1', 'l1');
    expect(single[0]).toMatchObject({ type: 'bind', options: ['rbind', 'ro'] });
    const v1 = await mountAt('v1', single);
    await expect(writeFile(join(v1, 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    const v2 = await mountAt('v2', await snapshotter.view('v2', 'l2'));
    expect((await readdir(v2)).sort()).toEqual(['a', 'b']);
    await expect(writeFile(join(v2, 'x'), 'x')).rejects.toMatchObject({ code: 'EROFS' });
    await expect(snapshotter.upperDir('v2')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(snapshotter.mounts('l1')).rejects.toMatchObject({ code: 'FailedPrecondition' });
  });

  it('reports typed errors for missing, duplicate and wrong-kind snapshots', async () => {
    await layer('l1', undefined, {});
    await expect(snapshotter.prepare('x', 'missing')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(snapshotter.prepare('l1')).rejects.toMatchObject({ code: 'AlreadyExists' });
    await snapshotter.prepare('active', 'l1');
    await expect(snapshotter.prepare('child', 'active')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(snapshotter.commit('l1', 'active')).rejects.toMatchObject({ code: 'AlreadyExists' });
    await expect(snapshotter.commit('l9', 'l1')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    await expect(snapshotter.commit('l9', 'nope')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(snapshotter.remove('nope')).rejects.toMatchObject({ code: 'NotFound' });
    await expect(snapshotter.usage('nope')).rejects.toMatchObject({ code: 'NotFound' });
  });

  it('refuses to remove a parent, then removes children and parent with their directories', async () => {
    await layer('l1', undefined, { 'a': '1' });
    await snapshotter.prepare('c1', 'l1');
    await expect(snapshotter.remove('l1')).rejects.toMatchObject({ code: 'FailedPrecondition', message: expect.stringContaining('"c1"') });
    await snapshotter.remove('c1');
    await snapshotter.remove('l1');
    expect(await snapshotter.list()).toEqual([]);
    expect(await readdir(join(snapRoot, 'snapshots'))).toEqual([]);
  });

  it('measures usage: bytes of files, inodes, hard links once', async () => {
    await snapshotter.prepare('u');
    const upper = await snapshotter.upperDir('u');
    await mkdir(join(upper, 'd'));
    await writeFile(join(upper, 'd', 'f'), Buffer.alloc(1000));
    await link(join(upper, 'd', 'f'), join(upper, 'hard'));
    await writeFile(join(upper, 'g'), Buffer.alloc(24));
    // root, d, f (twice linked), g
    expect(await snapshotter.usage('u')).toEqual({ size: 1024, inodes: 4 });
  });

  it('keeps committed snapshots across a reopen and drops what a crash left half made', async () => {
    await layer('l1', undefined, { 'a': 'kept' });
    await snapshotter.prepare('half', 'l1');
    // A crash between creating a snapshot's directory and recording it, and a crash mid metadata write.
    await mkdir(join(snapRoot, 'snapshots', '999', 'fs'), { recursive: true });
    await writeFile(join(snapRoot, 'metadata.json.partial'), '{"version":');
    const reopened = await OverlaySnapshotter.open(snapRoot);
    expect((await reopened.list()).map((s) => [s.key, s.kind]).sort()).toEqual([
      ['half', 'active'],
      ['l1', 'committed'],
    ]);
    expect(await readdir(join(snapRoot, 'snapshots'))).not.toContain('999');
    expect(await readdir(snapRoot)).toEqual(['metadata.json', 'snapshots']);
    const [l1] = await reopened.lowerDirs('half');
    expect(await readFile(join(l1!, 'a'), 'utf8')).toBe('kept');
    // An active snapshot is never usable as a parent, so a half-applied layer cannot leak into an image.
    await expect(reopened.prepare('x', 'half')).rejects.toMatchObject({ code: 'FailedPrecondition' });
    // Ids are not reused after a reopen.
    await reopened.prepare('fresh');
    const ids = await readdir(join(snapRoot, 'snapshots'));
    expect(new Set(ids).size).toBe(3);
  });

  it('serialises concurrent operations on one snapshotter', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => snapshotter.prepare(`p${i}`)));
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => snapshotter.commit('winner', `p${i}`)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(Array(19).fill('AlreadyExists'));
    const reopened = await OverlaySnapshotter.open(snapRoot);
    expect(await reopened.list()).toHaveLength(20);
  });

  it('mounts an image with more layers than absolute lower dirs fit in a page', async () => {
    let parent: string | undefined;
    for (let i = 0; i < 120; i++) {
      await layer(`layer-${i}`, parent, { [`f${i}`]: String(i) });
      parent = `layer-${i}`;
    }
    const mounts = await snapshotter.prepare('tall', parent);
    expect(mounts[0]!.options.join(',').length).toBeGreaterThan(4096);
    const rootfs = await mountAt('tall', mounts);
    expect(await readdir(rootfs)).toHaveLength(120);
    expect(await readFile(join(rootfs, 'f0'), 'utf8')).toBe('0');
    expect((await stat(rootfs)).isDirectory()).toBe(true);
  });
});
