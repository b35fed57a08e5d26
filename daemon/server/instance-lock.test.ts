import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/errors.js';
import { InstanceLock } from './instance-lock.js';

describe('InstanceLock', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is exclusive until released, and names the holder', () => {
    const path = join(dir, 'berthd.lock');
    const first = InstanceLock.acquire(path, 'root /x');
    let refusal: unknown;
    try {
      InstanceLock.acquire(path, 'root /x');
    } catch (err) {
      refusal = err;
    }
    expect(isBerthError(refusal, 'FailedPrecondition')).toBe(true);
    expect((refusal as Error).message).toContain(`another berthd (pid ${process.pid}) is already using root /x`);
    first.release();
    InstanceLock.acquire(path, 'root /x').release();
  });
});
