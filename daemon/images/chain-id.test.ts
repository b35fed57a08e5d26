import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chainIDs } from './chain-id.js';
import type { Digest } from '../oci/image-spec.js';

const d = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;

describe('chainIDs', () => {
  it('is empty for no layers', () => {
    expect(chainIDs([])).toEqual([]);
  });

  it('starts with the first diff ID and hashes parent + space + diff ID after', () => {
    const ids = chainIDs([d('a'), d('b'), d('c')]);
    const second = `sha256:${createHash('sha256').update(`${d('a')} ${d('b')}`).digest('hex')}`;
    const third = `sha256:${createHash('sha256').update(`${second} ${d('c')}`).digest('hex')}`;
    expect(ids).toEqual([d('a'), second, third]);
  });

  it('depends on order', () => {
    expect(chainIDs([d('a'), d('b')])[1]).not.toBe(chainIDs([d('b'), d('a')])[1]);
  });
});
