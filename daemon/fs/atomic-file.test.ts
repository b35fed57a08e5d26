import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { removeFileDurable, writeFileDurable } from './atomic-file.js';

/** The fs calls atomic-file makes, in order: the order is what makes a write crash-safe. */
const calls: string[] = [];
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const logged = (name: string, f: unknown) => (...args: unknown[]): unknown => {
    const shown = args.slice(0, -1).flatMap((a, i) => (typeof a === 'string' ? [a] : typeof a === 'number' && i === 0 ? ['fd'] : []));
    calls.push([name, ...shown].join(' '));
    return (f as (...a: unknown[]) => unknown)(...args);
  };
  return { ...fs, open: logged('open', fs.open), writeFile: logged('write', fs.writeFile), fsync: logged('fsync', fs.fsync), close: logged('close', fs.close), rename: logged('rename', fs.rename), unlink: logged('unlink', fs.unlink) };
});

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-atomic-'));
  calls.length = 0;
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

/** The logged calls (strings, and a leading fd as 'fd'), with the test dir and the temp file's random part replaced. */
const steps = () => calls.map((c) => c.replaceAll(dir, '<dir>').replace(/\.tmp-[0-9a-f]{12}-/g, '.tmp-X-'));

describe('writeFileDurable', () => {
  it('writes and fsyncs a temp file, renames it over the target, then fsyncs the directory, in that order', async () => {
    await writeFileDurable(path.join(dir, 'r.json'), 'old');
    calls.length = 0;
    await writeFileDurable(path.join(dir, 'r.json'), 'new');
    expect(await readFile(path.join(dir, 'r.json'), 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['r.json']);
    expect(steps()).toEqual([
      'open <dir>/.tmp-X-r.json wx',
      'write fd new',
      'fsync fd',
      'close fd',
      'rename <dir>/.tmp-X-r.json <dir>/r.json',
      'open <dir> r',
      'fsync fd',
      'close fd',
    ]);
  });

  it('removes its temp file and rejects when the rename fails, leaving the target alone', async () => {
    await mkdir(path.join(dir, 'busy'));
    await mkdir(path.join(dir, 'busy', 'inside'));
    await expect(writeFileDurable(path.join(dir, 'busy'), 'x')).rejects.toMatchObject({ code: expect.stringMatching(/^(EISDIR|ENOTEMPTY)$/) });
    expect(await readdir(dir)).toEqual(['busy']);
  });

  it('rejects with the open error when the directory is missing', async () => {
    await expect(writeFileDurable(path.join(dir, 'missing', 'r.json'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(steps()).toEqual(['open <dir>/missing/.tmp-X-r.json wx']);
  });
});

describe('removeFileDurable', () => {
  it('unlinks then fsyncs the directory; a missing file is already removed', async () => {
    await writeFileDurable(path.join(dir, 'r.json'), 'x');
    calls.length = 0;
    await removeFileDurable(path.join(dir, 'r.json'));
    await removeFileDurable(path.join(dir, 'r.json'));
    expect(await readdir(dir)).toEqual([]);
    expect(steps()).toEqual(['unlink <dir>/r.json', 'open <dir> r', 'fsync fd', 'close fd', 'unlink <dir>/r.json']);
  });
});
