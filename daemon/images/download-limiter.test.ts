import { describe, expect, it } from 'vitest';
import { DownloadLimiter } from './download-limiter.js';

describe('DownloadLimiter', () => {
  it('runs at most `limit` tasks at once and all of them eventually, failures included', async () => {
    const limiter = new DownloadLimiter(2);
    let running = 0;
    let peak = 0;
    const task = (i: number) =>
      limiter.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (i === 3) throw new Error('boom');
        return i;
      });
    const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(task));
    expect(peak).toBe(2);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  });

  it('refuses a limit below one', () => {
    expect(() => new DownloadLimiter(0)).toThrow(RangeError);
  });
});
