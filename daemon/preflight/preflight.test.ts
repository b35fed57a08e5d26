import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../config/defaults.js';
import { requireRuntimeBinary, resolveRuntimeBinary } from '../oci/runtime-binary.js';
import { checkOverlay, checkRuntimeBinaries } from './preflight.js';

describe('preflight', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-preflight-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds overlay in /proc/filesystems or among the kernel\'s modules, and says to modprobe it otherwise', async () => {
    const without = join(dir, 'filesystems');
    await writeFile(without, 'nodev\tsysfs\nnodev\ttmpfs\n\text4\n');
    const modules = join(dir, 'modules');
    const problem = await checkOverlay(without, modules);
    expect(problem).toMatchObject({ check: 'overlay', blocksRuntime: true });
    expect(problem?.message).toContain('run `modprobe overlay`');
    // Shipped as a module: the kernel loads it at the first overlay mount.
    await mkdir(modules);
    await writeFile(join(modules, 'modules.dep'), 'kernel/fs/ext4/ext4.ko.zst: kernel/fs/jbd2/jbd2.ko.zst\nkernel/fs/overlayfs/overlay.ko.zst:\n');
    expect(await checkOverlay(without, modules)).toBeUndefined();
    await writeFile(without, 'nodev\tsysfs\nnodev\toverlay\n');
    expect(await checkOverlay(without, join(dir, 'absent'))).toBeUndefined();
  });

  it('resolves a handler binary by name in PATH or by absolute path, executable files only', async () => {
    const binary = join(dir, 'fake-runc');
    await writeFile(binary, '#!/bin/sh\n', { mode: 0o755 });
    expect(await resolveRuntimeBinary({ path: 'fake-runc', args: [] }, `/nonexistent:${dir}`)).toBe(binary);
    expect(await resolveRuntimeBinary({ path: 'fake-runc', args: [] }, '/nonexistent')).toBeUndefined();
    await chmod(binary, 0o644);
    // Even for root, access(X_OK) fails on a file without any execute bit.
    expect(await resolveRuntimeBinary({ path: binary, args: [] })).toBeUndefined();
    await chmod(binary, 0o755);
    expect(await resolveRuntimeBinary({ path: binary, args: [] })).toBe(binary);
    await expect(requireRuntimeBinary('crun', { path: join(dir, 'crun'), args: [] })).rejects.toMatchObject({
      kind: 'FailedPrecondition',
      message: `OCI runtime of handler "crun": ${join(dir, 'crun')} does not exist or is not executable; install it or set [cri.runtimes.crun] path in berth's config to its absolute path`,
    });
  });

  it('requires a handler binary again after finding it once: a removed binary is refused', async () => {
    const binary = join(dir, 'gone-runc');
    await writeFile(binary, '#!/bin/sh\n', { mode: 0o755 });
    await requireRuntimeBinary('gone', { path: binary, args: [] });
    await rm(binary);
    await expect(requireRuntimeBinary('gone', { path: binary, args: [] })).rejects.toMatchObject({ kind: 'FailedPrecondition' });
  });

  it('blocks the runtime only for the default handler', async () => {
    const config = defaultConfig();
    config.cri.runtimes['missing'] = { path: '/nonexistent/missing', args: [] };
    expect(await checkRuntimeBinaries(config)).toEqual([expect.objectContaining({ check: 'runtime-binary', blocksRuntime: false })]);
    config.cri.default_runtime = 'missing';
    expect(await checkRuntimeBinaries(config)).toEqual([expect.objectContaining({ blocksRuntime: true })]);
  });
});
