import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HeapTrimmer } from './heap-trim.js';

describe('HeapTrimmer', () => {
  let size = 0;
  let collections = 0;
  const trimmer = (): HeapTrimmer => new HeapTrimmer({
    idleMs: 1000,
    slackBytes: 100,
    heapBytes: () => size,
    collect: () => { collections++; size = 1050; },
  });

  beforeEach(() => {
    vi.useFakeTimers();
    size = 1000;
    collections = 0;
  });
  afterEach(() => vi.useRealTimers());

  it('collects once the shim has been quiet for a whole period and its heap grew past the slack', () => {
    const t = trimmer();
    t.touch();
    size = 5000;
    vi.advanceTimersByTime(999);
    expect(collections).toBe(0);
    // The first look finds the touch; the second, a quiet period later, collects.
    vi.advanceTimersByTime(1);
    expect(collections).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(collections).toBe(1);
  });

  it('waits while activity goes on, with one timer', () => {
    const t = trimmer();
    size = 5000;
    for (let i = 0; i < 50; i++) {
      t.touch();
      t.touch();
      vi.advanceTimersByTime(500);
    }
    expect(collections).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(2000);
    expect(collections).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves a heap that grew less than the slack alone, and measures growth from the last collection', () => {
    const t = trimmer();
    size = 1099;
    t.touch();
    vi.advanceTimersByTime(2000);
    expect(collections).toBe(0);
    size = 5000;
    t.touch();
    vi.advanceTimersByTime(2000);
    expect(collections).toBe(1);
    // After the collection the heap is 1050: growth to 1120 is within the slack of that.
    size = 1120;
    t.touch();
    vi.advanceTimersByTime(2000);
    expect(collections).toBe(1);
  });

  it('does nothing when nothing happens', () => {
    trimmer();
    size = 5000;
    vi.advanceTimersByTime(10_000);
    expect(collections).toBe(0);
  });
});

describe('collectGarbage', () => {
  it('frees memory in a node started without --expose-gc', () => {
    // A child process (of the build, as the shim runs): the flag it sets must not leak into the test runner's V8.
    const built = new URL('../dist/shim/heap-trim.js', import.meta.url).pathname;
    const script = `
      import(${JSON.stringify(built)}).then(({ collectGarbage, heapBytes }) => {
        let junk = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'x' + i }));
        const before = heapBytes();
        junk = null;
        collectGarbage();
        collectGarbage();
        console.log(before - heapBytes());
      });`;
    const freed = Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
    expect(freed).toBeGreaterThan(4 * 1024 * 1024);
  });
});
