import { describe, expect, it } from 'vitest';
import type { ImageConfig } from '../../oci/image-spec.js';
import { imageUser, registryAuth } from './cri-image.js';

const withUser = (User: unknown): ImageConfig => ({ architecture: 'amd64', os: 'linux', config: { User } as { User: string }, rootfs: { type: 'layers', diff_ids: [] } });

describe('imageUser', () => {
  it('reports a numeric user as uid and a name as username, ignoring the group', () => {
    expect(imageUser(withUser('1000:1000'))).toEqual({ uid: { value: '1000' }, username: '' });
    expect(imageUser(withUser('nobody'))).toEqual({ uid: null, username: 'nobody' });
    expect(imageUser(withUser('www:www'))).toEqual({ uid: null, username: 'www' });
    expect(imageUser(withUser(''))).toEqual({ uid: null, username: '' });
    expect(imageUser(withUser(7))).toEqual({ uid: null, username: '' });
  });
});

describe('registryAuth', () => {
  it('keeps the fields that are set and treats an empty AuthConfig as anonymous', () => {
    const empty = { username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' };
    expect(registryAuth(null)).toBeUndefined();
    expect(registryAuth(empty)).toBeUndefined();
    expect(registryAuth({ ...empty, username: 'u', password: 'p' })).toEqual({ username: 'u', password: 'p' });
    expect(registryAuth({ ...empty, identity_token: 't' })).toEqual({ identityToken: 't' });
  });

  it('keeps server_address so the credentials go only to their registry, and ignores it alone', () => {
    const empty = { username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' };
    expect(registryAuth({ ...empty, username: 'u', password: 'p', server_address: 'registry.example:5000' })).toEqual({
      username: 'u',
      password: 'p',
      serverAddress: 'registry.example:5000',
    });
    expect(registryAuth({ ...empty, server_address: 'registry.example:5000' })).toBeUndefined();
  });
});
