import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isBerthError } from '../errors/errors.js';
import { parseDigest } from './digest.js';
import { formatReference, parseReference, repositoryName } from './reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['foo/bar', 'docker.io/foo/bar:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['index.docker.io/foo/bar', 'docker.io/foo/bar:latest'],
    ['localhost/x', 'localhost/x:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b/c:v1', '127.0.0.1:5000/a/b/c:v1'],
    ['[::1]:5000/x:t', '[::1]:5000/x:t'],
    [`host.example/x@${D}`, `host.example/x@${D}`],
    [`x:tag@${D}`, `docker.io/library/x:tag@${D}`],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['Example.com/x', 'Example.com/x:latest'],
    ['a__b/c-d--e/f.g', 'docker.io/a__b/c-d--e/f.g:latest'],
  ])('%s → %s', (input, canonical) => {
    expect(formatReference(parseReference(input))).toBe(canonical);
  });

  it('keeps tag and digest apart', () => {
    expect(parseReference(`localhost:5000/app:v2@${D}`)).toEqual({ domain: 'localhost:5000', path: 'app', tag: 'v2', digest: D });
    expect(parseReference(`app@${D}`)).toEqual({ domain: 'docker.io', path: 'library/app', digest: D });
    expect(repositoryName(parseReference('busybox'))).toBe('docker.io/library/busybox');
  });

  it.each([
    ['', 'empty'],
    [' busybox', 'whitespace'],
    ['Busybox', 'lowercase'],
    ['docker.io/Foo/bar', 'lowercase'],
    ['foo//bar', 'component'],
    ['foo/bar/', 'component'],
    ['-foo', 'component'],
    ['foo:', 'tag'],
    ['foo:.bad', 'tag'],
    [`foo:${'a'.repeat(129)}`, 'tag'],
    ['foo@sha256:abc', 'not a valid digest'],
    [`foo@sha512:${'a'.repeat(128)}`, 'unsupported algorithm'],
    [`foo@SHA256:${'a'.repeat(64)}`, 'not a valid digest'],
    ['bad_host:5000/x', 'registry host'],
    [':tag', 'empty'],
    [`example.com/${'a/'.repeat(130)}b`, 'longer than'],
  ])('refuses %j (%s)', (input, why) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(isBerthError(caught, 'InvalidArgument')).toBe(true);
    expect((caught as Error).message).toContain(`"${input}"`);
    expect((caught as Error).message).toContain(why);
  });

  it('formats back to a string that parses to the same reference', () => {
    const component = fc.stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,8})?$/);
    const ref = fc.record({
      domain: fc.constantFrom('docker.io', 'localhost:5000', 'registry.example.com', '10.0.0.1:443'),
      path: fc.array(component, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/')),
      tag: fc.option(fc.stringMatching(/^[A-Za-z0-9_][\w.-]{0,20}$/), { nil: undefined }),
      digest: fc.option(fc.stringMatching(/^[a-f0-9]{64}$/).map((hex) => `sha256:${hex}`), { nil: undefined }),
    });
    fc.assert(
      fc.property(ref, (r) => {
        const parsed = parseReference(formatReference(r as never));
        const again = parseReference(formatReference(parsed));
        expect(again).toEqual(parsed);
      }),
    );
  });
});

describe('parseDigest', () => {
  it('accepts sha256 and names the holder on error', () => {
    expect(parseDigest(D, 'layer 0')).toBe(D);
    expect(() => parseDigest('sha256:xyz', 'layer 0')).toThrow(/layer 0/);
  });
});
