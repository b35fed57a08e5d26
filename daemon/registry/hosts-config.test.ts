import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/errors.js';
import { rejectionOf } from '../../test/fixtures/rejection.js';
import { registryHosts } from './hosts-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-hosts-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(domainDir: string, file: string, text: string): Promise<void> {
  await mkdir(join(dir, domainDir), { recursive: true });
  await writeFile(join(dir, domainDir, file), text);
}

describe('registryHosts', () => {
  it('defaults to https on the registry itself, registry-1.docker.io for docker.io', async () => {
    const [hub] = await registryHosts(undefined, 'docker.io');
    expect(hub).toMatchObject({ origin: 'https://registry-1.docker.io', apiPath: '/v2', capabilities: ['pull', 'resolve', 'push'], mirror: false, httpFallback: false });
    expect((await registryHosts(dir, 'quay.io'))[0]).toMatchObject({ origin: 'https://quay.io', httpFallback: false });
  });

  it('lets localhost registries fall back to plain HTTP', async () => {
    for (const domain of ['localhost:5000', '127.0.0.1:5000', '[::1]:5000', 'localhost']) {
      expect((await registryHosts(dir, domain))[0]?.httpFallback).toBe(true);
    }
  });

  it('orders [host] entries before the server and reads their options', async () => {
    await write('docker.io', 'mirror.crt', 'PEM');
    await write(
      'docker.io',
      'hosts.toml',
      `server = "https://docker.io"
capabilities = ["pull", "resolve"]

[host."https://mirror.example:8443/base"]
  capabilities = ["pull"]
  skip_verify = true
  ca = "mirror.crt"
  [host."https://mirror.example:8443/base".header]
    X-Token = "abc"
    x-multi = ["a", "b"]

[host."http://10.0.0.1:5000/raw"]
  override_path = true
`,
    );
    const hosts = await registryHosts(dir, 'docker.io');
    expect(hosts.map((h) => `${h.origin}${h.apiPath}`)).toEqual(['https://mirror.example:8443/base/v2', 'http://10.0.0.1:5000/raw', 'https://registry-1.docker.io/v2']);
    expect(hosts[0]).toMatchObject({ capabilities: ['pull'], skipVerify: true, headers: { 'x-token': ['abc'], 'x-multi': ['a', 'b'] }, mirror: true });
    expect(hosts[0]!.ca.map(String)).toEqual(['PEM']);
    expect(hosts[1]).toMatchObject({ capabilities: ['pull', 'resolve', 'push'], mirror: true });
    expect(hosts[2]).toMatchObject({ capabilities: ['pull', 'resolve'], mirror: false });
  });

  it('keeps the registry itself as server when hosts.toml has none, with root-level options', async () => {
    await write('localhost:5000', 'hosts.toml', '[header]\n  x-a = "1"\n[host."http://m:1"]\n');
    const hosts = await registryHosts(dir, 'localhost:5000');
    expect(hosts.map((h) => h.origin)).toEqual(['http://m:1', 'https://localhost:5000']);
    expect(hosts[1]).toMatchObject({ headers: { 'x-a': ['1'] }, httpFallback: true, mirror: false });
  });

  it('looks up host_port_, then host:port, then _default', async () => {
    await write('_default', 'hosts.toml', 'server = "http://default:1"\n');
    expect((await registryHosts(dir, 'r.example:5000'))[0]?.origin).toBe('http://default:1');
    await write('r.example:5000', 'hosts.toml', 'server = "http://colon:1"\n');
    expect((await registryHosts(dir, 'r.example:5000'))[0]?.origin).toBe('http://colon:1');
    await write('r.example_5000_', 'hosts.toml', 'server = "http://underscore:1"\n');
    expect((await registryHosts(dir, 'r.example:5000'))[0]?.origin).toBe('http://underscore:1');
  });

  it("honours Docker's *.crt files in a host directory without hosts.toml", async () => {
    await write('certs.example', 'ca.crt', 'CA');
    const [host] = await registryHosts(dir, 'certs.example');
    expect(host).toMatchObject({ origin: 'https://certs.example' });
    expect(host!.ca.map(String)).toEqual(['CA']);
  });

  it.each([
    ['server = 1', '"server"'],
    ['[host."ftp://x"]', 'http or https'],
    ['[host."https://x"]\ncapabilities = ["fly"]', 'unknown capability'],
    ['[host."https://x"]\nskip_verify = "yes"', 'true or false'],
    ['[host."https://x"]\nca = "missing.pem"', 'cannot read'],
    ['[host."https://x"]\nclient = [["a", "b", "c"]]', 'pairs'],
    ['[host."https://x"]\ndial_timeout = "soon"', 'duration'],
    ['[host."https://x"]\n[host."https://x".header]\nx = 1', 'string or a list'],
    ['server = ', 'invalid'],
  ])('refuses a broken hosts.toml (%s) naming the file', async (toml, why) => {
    await write('bad.example', 'hosts.toml', toml);
    const err = await rejectionOf(registryHosts(dir, 'bad.example'));
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    expect(err.message).toContain(join(dir, 'bad.example', 'hosts.toml'));
    expect(err.message).toContain(why);
  });
});
