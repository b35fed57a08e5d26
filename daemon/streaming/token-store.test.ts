import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/errors.js';
import { TokenStore } from './token-store.js';

describe('TokenStore', () => {
  it('hands out random tokens that work once', () => {
    const store = new TokenStore<string>({ ttlMs: 60_000, maxPending: 10 });
    const a = store.put('a');
    const b = store.put('b');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(store.take(a)).toBe('a');
    expect(store.take(a)).toBeUndefined();
    expect(store.take('nope')).toBeUndefined();
    expect(store.take(b)).toBe('b');
  });

  it('forgets tokens once they expire', () => {
    let now = 0;
    const store = new TokenStore<number>({ ttlMs: 1000, maxPending: 10, now: () => now });
    const t = store.put(1);
    const u = store.put(2);
    now = 999;
    expect(store.take(t)).toBe(1);
    now = 1000;
    expect(store.take(u)).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('refuses more pending tokens than allowed until some expire', () => {
    let now = 0;
    const store = new TokenStore<number>({ ttlMs: 1000, maxPending: 2, now: () => now });
    store.put(1);
    store.put(2);
    let refusal: unknown;
    try {
      store.put(3);
    } catch (err) {
      refusal = err;
    }
    expect(isBerthError(refusal, 'ResourceExhausted')).toBe(true);
    now = 2000;
    expect(() => store.put(3)).not.toThrow();
  });
});
