import { describe, expect, it } from 'vitest';
import { byCreation, matchesId, matchesLabels } from './filters.js';

describe('list filters', () => {
  it('match ids by prefix and labels by equality on every selector key', () => {
    expect(matchesId('abcdef', 'abc')).toBe(true);
    expect(matchesId('abcdef', 'abd')).toBe(false);
    expect(matchesId('abcdef', '')).toBe(true);
    expect(matchesLabels({ a: '1', b: '2' }, { a: '1' })).toBe(true);
    expect(matchesLabels({ a: '1' }, { a: '1', b: '2' })).toBe(false);
    expect(matchesLabels({ a: '1' }, {})).toBe(true);
  });

  it('sorts by creation time as numbers, ties in their original order', () => {
    const at = (createdAt: string, tag: string) => ({ createdAt, tag });
    const sorted = [at('1700000000000000000', 'b'), at('999000000', 'a'), at('1700000000000000000', 'c'), at('1600000000000000000', 'x')].sort(byCreation);
    expect(sorted.map((r) => r.tag)).toEqual(['a', 'x', 'b', 'c']);
  });
});
