import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBerthError } from '../../daemon/errors/errors.js';
import { parseReference } from '../../daemon/oci/reference.js';
import { DistributionClient } from '../../daemon/registry/distribution-client.js';
import { busyboxImage, descriptorOf, pushImage, type BuiltImage, type PushedImage } from '../fixtures/images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startTokenServer, type TokenServer } from '../fixtures/token-server.js';

const USER = { username: 'berth', password: 'p4ss:word' };
const basic = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`;
const clients: DistributionClient[] = [];
/** A fresh client: no cached challenges or tokens from an earlier test. */
function client(): DistributionClient {
  const c = new DistributionClient({ maxManifestBytes: 4 << 20, responseTimeoutMs: 5_000 });
  clients.push(c);
  return c;
}

let image: BuiltImage;
beforeAll(async () => {
  image = await busyboxImage();
});
afterAll(() => {
  for (const c of clients) c.close();
});

describe('Basic auth (htpasswd)', () => {
  let registry: TestRegistry;
  let pushed: PushedImage;

  beforeAll(async () => {
    registry = await startRegistry({ auth: { htpasswd: { [USER.username]: USER.password } } });
    pushed = await pushImage(registry, 'private/app', 'v1', image, USER);
  });
  afterAll(async () => {
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

  it('sends credentials that name their server only to that host, never to a mirror', async () => {
    const ref = parseReference(pushed.reference);
    expect((await client().resolve(ref, { auth: { ...USER, serverAddress: `http://${registry.host}/v2/` } })).digest).toBe(pushed.manifest.digest);
    const elsewhere = await rejectionOf(client().resolve(ref, { auth: { ...USER, serverAddress: 'other.example' } }));
    expect(isBerthError(elsewhere, 'Unauthenticated')).toBe(true);

    const certsD = await mkdtemp(join(tmpdir(), 'berth-auth-hosts-'));
    try {
      await mkdir(join(certsD, 'private.example'));
      await writeFile(join(certsD, 'private.example', 'hosts.toml'), `server = "${registry.url}"\n`);
      const viaMirror = new DistributionClient({ configPath: certsD, maxManifestBytes: 4 << 20 });
      clients.push(viaMirror);
      const mirrored = parseReference('private.example/private/app:v1');
      expect(isBerthError(await rejectionOf(viaMirror.resolve(mirrored, { auth: { ...USER, serverAddress: 'private.example' } })), 'Unauthenticated')).toBe(true);
      expect((await viaMirror.resolve(mirrored, { auth: USER })).digest).toBe(pushed.manifest.digest);
    } finally {
      await rm(certsD, { recursive: true, force: true });
    }
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

  beforeAll(async () => {
    tokens = await startTokenServer({ users: { [USER.username]: USER.password }, refreshTokens: { 'refresh-me': USER.username } });
    registry = await startRegistry({ auth: { token: tokens } });
    pushed = await pushImage(registry, 'team/secret', 'v1', image, USER);
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  /** A token straight from the token server, as a kubelet credential provider would hand one over. */
  async function tokenFor(scope: string): Promise<string> {
    const url = new URL(tokens.realm);
    url.searchParams.set('service', tokens.service);
    url.searchParams.set('scope', scope);
    const res = await fetch(url, { headers: { authorization: basic } });
    return ((await res.json()) as { access_token: string }).access_token;
  }

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

  it('shares one token fetch between parallel downloads', async () => {
    const c = client();
    const ref = parseReference(pushed.reference);
    tokens.requests.length = 0;
    const streams = await Promise.all([pushed.config, ...pushed.layers, pushed.config].map((b) => c.fetch(ref, descriptorOf(b), { auth: USER })));
    for (const s of streams) s.resume();
    expect(tokens.requests).toHaveLength(1);
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
    const registryToken = await tokenFor('repository:team/secret:pull');
    tokens.requests.length = 0;
    const desc = await client().resolve(parseReference(pushed.reference), { auth: { registryToken } });
    expect(desc.digest).toBe(pushed.manifest.digest);
    expect(tokens.requests).toHaveLength(0);
  });

  it('refuses a token scoped to another repository', async () => {
    const other = await pushImage(registry, 'team/other', 'v1', image, USER);
    const registryToken = await tokenFor('repository:team/secret:pull');
    const err = await rejectionOf(client().resolve(parseReference(other.reference), { auth: { registryToken } }));
    expect(isBerthError(err, 'Unauthenticated')).toBe(true);
  });
});

describe('anonymous Bearer tokens (public images on a token registry, as on Docker Hub)', () => {
  let tokens: TokenServer;
  let registry: TestRegistry;

  beforeAll(async () => {
    tokens = await startTokenServer({ users: { [USER.username]: USER.password }, anonymousPull: true });
    registry = await startRegistry({ auth: { token: tokens } });
  });
  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('pulls without credentials using an anonymous pull token', async () => {
    const pub = await pushImage(registry, 'library/public', 'v1', image, USER);
    tokens.requests.length = 0;
    expect((await client().resolve(parseReference(pub.reference))).digest).toBe(pub.manifest.digest);
    expect(tokens.requests).toEqual([{ method: 'GET', user: undefined, service: tokens.service, scopes: ['repository:library/public:pull'] }]);
  });
});
