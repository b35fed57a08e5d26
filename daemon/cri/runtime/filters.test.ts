import { describe, expect, it } from 'vitest';
import { matchesId, matchesLabels } from './filters.js';

describe('list filters', () => {
  it('match ids by prefix and labels by equality on every selector key', () => {
    expect(matchesId('abcdef', 'abc')).toBe(true);
    expect(matchesId('abcdef', 'abd')).toBe(false);
    expect(matchesId('abcdef', '')).toBe(true);
    expect(matchesLabels({ a: '1', b: '2' }, { a: '1' })).toBe(true);
    expect(matchesLabels({ a: '1' }, { a: '1', b: '2' })).toBe(false);
    expect(matchesLabels({ a: '1' }, {})).toBe(true);
  });
});
