import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountAll, unmount } from './mount.js';
import type { Mount } from './snapshotter.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-mount-'));
});

afterEach(async () => {
  unmount(join(dir, 'target'));
  await rm(dir, { recursive: true, force: true });
});

async function dirWith(name: string, files: Record<string, string>): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  for (const [file, content] of Object.entries(files)) await writeFile(join(path, file), content);
  return path;
}

describe('mountAll / unmount', () => {
  it('mounts an overlay and unmounts it; unmounting again is fine', async () => {
    const lower = await dirWith('lower', { a: 'lower' });
    const upper = await dirWith('upper', { b: 'upper' });
    const work = await dirWith('work', {});
    const target = await dirWith('target', {});
    await mountAll([{ type: 'overlay', source: 'overlay', options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lower}`] }], target);
    expect((await readdir(target)).sort()).toEqual(['a', 'b']);
    unmount(target);
    expect(await readdir(target)).toEqual([]);
    unmount(target);
    unmount(join(dir, 'absent'));
  });

  it('unmounts everything stacked on a target', async () => {
    const one = await dirWith('one', { one: '1' });
    const two = await dirWith('two', { two: '2' });
    const target = await dirWith('target', {});
    await mountAll([{ type: 'bind', source: one, options: ['rbind', 'ro'] }, { type: 'bind', source: two, options: ['rbind', 'rw'] }], target);
    expect(await readFile(join(target, 'two'), 'utf8')).toBe('2');
    unmount(target);
    expect(await readdir(target)).toEqual([]);
  });

  it('undoes the mounts already made when a later one fails', async () => {
    const one = await dirWith('one', { one: '1' });
    const target = await dirWith('target', {});
    const mounts: Mount[] = [
      { type: 'bind', source: one, options: ['rbind', 'rw'] },
      { type: 'bind', source: join(dir, 'missing'), options: ['rbind', 'rw'] },
    ];
    await expect(mountAll(mounts, target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(target)).toEqual([]);
  });

  it('refuses more layers than overlayfs stacks, naming the limit', async () => {
    const target = await dirWith('target', {});
    const lowers = Array.from({ length: 501 }, (_, i) => `/l/${i}/fs`).join(':');
    await expect(mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers}`] }], target)).rejects.toMatchObject({
      code: 'LimitExceeded',
      message: expect.stringContaining('501 layers'),
    });
  });
});
