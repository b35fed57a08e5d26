import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['250ms', 250],
    ['2m500ms', 120_500],
    ['0', 0],
    ['0s', 0],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', '-5s', '5 m', '5d', 's', '1m30', 'ms', '1.s', ' 5s', '5s '])('rejects "%s"', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('adds the terms of any well-formed sequence', () => {
    const term = fc.record({ n: fc.nat(10_000), unit: fc.constantFrom('h', 'm', 's', 'ms') });
    const ms = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 5 }), (terms) => {
        const text = terms.map((t) => `${t.n}${t.unit}`).join('');
        expect(parseDuration(text)).toBe(terms.reduce((sum, t) => sum + t.n * ms[t.unit], 0));
      }),
    );
  });
});
