import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSnapshotError } from './errors.js';
import { entryComponents, whiteoutOf } from './layer-path.js';

describe('entryComponents', () => {
  it('resolves names as tar does', () => {
    expect(entryComponents('./usr//bin/./sh')).toEqual(['usr', 'bin', 'sh']);
    expect(entryComponents('/etc/passwd')).toEqual(['etc', 'passwd']);
    expect(entryComponents('a/b/../c/')).toEqual(['a', 'c']);
    expect(entryComponents('./')).toEqual([]);
    expect(entryComponents('...')).toEqual(['...']);
  });

  it('refuses names that climb above the root, carry a NUL or exceed PATH_MAX', () => {
    for (const name of ['..', '../x', '/../x', 'a/../../x', '/abs/../../x', 'a\0b', 'a/'.repeat(2049)]) {
      expect(() => entryComponents(name), name).toThrow(expect.objectContaining({ code: 'InvalidLayer' }));
    }
  });

  it('never yields a component that is empty, . or .., nor one with a slash (property)', () => {
    const component = fc.constantFrom('..', '.', '', 'a', '.wh.b', '...', '..a');
    fc.assert(
      fc.property(fc.array(component, { maxLength: 12 }), fc.boolean(), (parts, absolute) => {
        const name = (absolute ? '/' : '') + parts.join('/');
        let result: string[];
        try {
          result = entryComponents(name);
        } catch (err) {
          expect(isSnapshotError(err, 'InvalidLayer')).toBe(true);
          return;
        }
        for (const c of result) expect(['', '.', '..'].includes(c) || c.includes('/')).toBe(false);
      }),
    );
  });
});

describe('whiteoutOf', () => {
  it('recognises whiteouts and opaque markers and refuses whiteouts of nothing', () => {
    expect(whiteoutOf('.wh..wh..opq', 'e')).toEqual({ kind: 'opaque' });
    expect(whiteoutOf('.wh.passwd', 'e')).toEqual({ kind: 'whiteout', name: 'passwd' });
    expect(whiteoutOf('.wh...a', 'e')).toEqual({ kind: 'whiteout', name: '..a' });
    expect(whiteoutOf('passwd', 'e')).toEqual({ kind: 'none' });
    for (const base of ['.wh.', '.wh..', '.wh...']) {
      expect(() => whiteoutOf(base, base)).toThrow(expect.objectContaining({ code: 'InvalidLayer' }));
    }
  });
});
