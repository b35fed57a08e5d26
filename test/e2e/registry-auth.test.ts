import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../daemon/errors/errors.js';
import { parseReference } from '../../daemon/oci/reference.js';
import { DistributionClient } from '../../daemon/registry/distribution-client.js';
import { busyboxImage, descriptorOf, pushImage, type BuiltImage, type PushedImage } from '../fixtures/images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startTokenServer, type TokenServer } from '../fixtures/token-server.js';

const USER = { username: 'berth', password: 'p4ss:word' };
const newClient = () => new DistributionClient({ maxManifestBytes: 4 << 20, responseTimeoutMs: 5_000 });

let image: BuiltImage;
beforeAll(async () => {
  image = await busyboxImage();
});

describe('Basic auth (htpasswd)', () => {
  let registry: TestRegistry;
  let pushed: PushedImage;
  const clients: DistributionClient[] = [];
  const client = () => {
    const c = newClient();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    registry = await startRegistry({ auth: { htpasswd: { [USER.username]: USER.password } } });
    pushed = await pushImage(registry, 'private/app', 'v1', image, USER);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await registry?.stop();
  });

  it('refuses anonymous pulls with an error naming registry, repository and the fix', async () => {
    const err = await rejectionOf(client().resolve(parseReference(pushed.reference)));
    expect(isBerthError(err, 'Unauthenticated')).toBe(true);
    expect(err.message).toContain(registry.host);
    expect(err.message).toContain('private/app');
    expect(err.message).toContain('check the pull secret / auth');
  });

  it('pulls with username/password and with the base64 auth form', async () => {
    const ref = parseReference(pushed.reference);
    const c = client();
    expect(await c.resolve(ref, { auth: USER })).toEqual(descriptorOf(pushed.manifest));
    await c.fetch(ref, descriptorOf(pushed.config), { auth: USER }).then((s) => s.resume());
    const auth = Buffer.from(`${USER.username}:${USER.password}`).toString('base64');
    expect((await client().resolve(ref, { auth: { auth } })).digest).toBe(pushed.manifest.digest);
  });

  it('reports a wrong password as Unauthenticated', async () => {
    const err = await rejectionOf(client().resolve(parseReference(pushed.reference), { auth: { username: USER.username, password: 'nope' } }));
    expect(isBerthError(err, 'Unauthenticated')).toBe(true);
  });
});

describe('Bearer token auth', () => {
  let tokens: TokenServer;
  let registry: TestRegistry;
  let pushed: PushedImage;
  const clients: DistributionClient[] = [];
  const client = () => {
    const c = newClient();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    tokens = await startTokenServer({ users: { [USER.username]: USER.password }, refreshTokens: { 'refresh-me': USER.username } });
    registry = await startRegistry({ auth: { token: tokens } });
    pushed = await pushImage(registry, 'team/secret', 'v1', image, USER);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await registry?.stop();
    await tokens?.stop();
  });

  it('gets a pull-scoped token with Basic credentials and caches it per host and scope', async () => {
    const ref = parseReference(pushed.reference);
    const c = client();
    tokens.requests.length = 0;
    expect(await c.resolve(ref, { auth: USER })).toEqual(descriptorOf(pushed.manifest));
    const layer = await c.fetch(ref, descriptorOf(pushed.layers[0]!), { auth: USER });
    layer.resume();
    await new Promise((r) => layer.once('end', r));
    expect(tokens.requests).toEqual([{ method: 'GET', user: USER.username, service: tokens.service, scopes: ['repository:team/secret:pull'] }]);
  });

  it('does not share tokens between credentials', async () => {
    const c = client();
    const ref = parseReference(pushed.reference);
    await c.resolve(ref, { auth: USER });
    tokens.requests.length = 0;
    const err = await rejectionOf(c.resolve(ref));
    expect(isBerthError(err, 'Unauthenticated')).toBe(true);
    expect(err.message).toContain('check the pull secret / auth');
    expect(tokens.requests).toHaveLength(1);
    expect(tokens.requests[0]!.user).toBeUndefined();
  });

  it('refuses wrong credentials at the token server', async () => {
    const err = await rejectionOf(client().resolve(parseReference(pushed.reference), { auth: { username: USER.username, password: 'bad' } }));
    expect(isBerthError(err, 'Unauthenticated')).toBe(true);
    expect(err.message).toContain('team/secret');
  });

  it('trades an identity token for an access token with the OAuth refresh grant', async () => {
    tokens.requests.length = 0;
    const desc = await client().resolve(parseReference(pushed.reference), { auth: { identityToken: 'refresh-me' } });
    expect(desc.digest).toBe(pushed.manifest.digest);
    expect(tokens.requests).toEqual([{ method: 'POST', user: USER.username, service: tokens.service, scopes: ['repository:team/secret:pull'] }]);
  });

  it('sends a registry token as the Bearer token without asking the token server', async () => {
    const url = new URL(tokens.realm);
    url.searchParams.set('service', tokens.service);
    url.searchParams.set('scope', 'repository:team/secret:pull');
    const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}` } });
    const { access_token: registryToken } = (await res.json()) as { access_token: string };
    tokens.requests.length = 0;
    const desc = await client().resolve(parseReference(pushed.reference), { auth: { registryToken } });
    expect(desc.digest).toBe(pushed.manifest.digest);
    expect(tokens.requests).toHaveLength(0);
  });

  it('refuses a token scoped to another repository', async () => {
    const other = await pushImage(registry, 'team/other', 'v1', image, USER);
    const url = new URL(tokens.realm);
    url.searchParams.set('service', tokens.service);
    url.searchParams.set('scope', 'repository:team/secret:pull');
    const res = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}` } });
    const { access_token: registryToken } = (await res.json()) as { access_token: string };
    const err = await rejectionOf(client().resolve(parseReference(other.reference), { auth: { registryToken } }));
    expect(isBerthError(err, 'Unauthenticated')).toBe(true);
  });
});
