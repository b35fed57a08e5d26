import { describe, expect, it } from 'vitest';
import { isBerthError } from './errors.js';
import { withTimeLimit } from './time-limit.js';

describe('withTimeLimit', () => {
  it('settles like the work when it is in time', async () => {
    await expect(withTimeLimit(Promise.resolve(7), 1000, 'x')).resolves.toBe(7);
    await expect(withTimeLimit(Promise.reject(new Error('boom')), 1000, 'x')).rejects.toThrow('boom');
  });

  it('rejects with DeadlineExceeded naming the object once the limit passes, and a late failure goes unnoticed', async () => {
    let fail!: (err: Error) => void;
    const work = new Promise<never>((_, reject) => (fail = reject));
    const err = await withTimeLimit(work, 20, 'the shim of container abc').catch((e: unknown) => e);
    expect(isBerthError(err, 'DeadlineExceeded')).toBe(true);
    expect((err as Error).message).toBe('the shim of container abc did not answer within 0.02s');
    fail(new Error('late'));
    await new Promise((r) => setTimeout(r, 10));
  });
});
