import { describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/errors.js';
import type { Descriptor, Platform } from '../oci/image-spec.js';
import { hostPlatform, platformRank, selectManifest } from './platform.js';

const m = (n: string, platform?: Platform): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${n.repeat(64)}`,
  size: 1,
  ...(platform ? { platform } : {}),
});

describe('hostPlatform', () => {
  it('maps node arch names to OCI names', () => {
    expect(hostPlatform('x64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(hostPlatform('arm64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
  });
});

describe('platformRank', () => {
  const arm64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };
  it('accepts arm64 images with or without the v8 variant, preferring v8', () => {
    expect(platformRank(arm64, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(0);
    expect(platformRank(arm64, { os: 'linux', architecture: 'arm64' })).toBe(1);
  });
  it('lets an armv7 host run v6 but not v8', () => {
    const arm7 = { os: 'linux', architecture: 'arm', variant: 'v7' };
    expect(platformRank(arm7, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBeDefined();
    expect(platformRank(arm7, { os: 'linux', architecture: 'arm', variant: 'v8' })).toBeUndefined();
  });
  it('refuses another os or architecture', () => {
    const amd64 = { os: 'linux', architecture: 'amd64' };
    expect(platformRank(amd64, { os: 'windows', architecture: 'amd64' })).toBeUndefined();
    expect(platformRank(amd64, { os: 'linux', architecture: 'arm64' })).toBeUndefined();
  });
});

describe('selectManifest', () => {
  const amd64 = { os: 'linux', architecture: 'amd64' };
  it('picks the host platform and skips entries without a platform', () => {
    const picked = selectManifest(
      [m('a'), m('b', { os: 'linux', architecture: 'arm64' }), m('c', amd64), m('d', { os: 'unknown', architecture: 'unknown' })],
      amd64,
      'x',
    );
    expect(picked.digest).toBe(`sha256:${'c'.repeat(64)}`);
  });
  it('fails with NotFound naming what the index offers', () => {
    try {
      selectManifest([m('b', { os: 'linux', architecture: 'arm64' })], amd64, 'docker.io/library/x:1');
      expect.unreachable();
    } catch (err) {
      expect(isBerthError(err, 'NotFound')).toBe(true);
      expect(String(err)).toMatch(/docker.io\/library\/x:1.*linux\/amd64.*linux\/arm64/);
    }
  });
});
