import diagnostics from 'node:diagnostics_channel';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../daemon/content/local-content-store.js';
import { isBerthError } from '../../daemon/errors/errors.js';
import { parseReference } from '../../daemon/oci/reference.js';
import { DistributionClient } from '../../daemon/registry/distribution-client.js';
import type { RegistryRequestEvent } from '../../daemon/registry/http-request.js';
import { selfSignedCert, type TestCert } from '../fixtures/certs.js';
import { busyboxImage, descriptorOf, pushImage, type PushedImage } from '../fixtures/images.js';
import { startForwardProxy } from '../fixtures/forward-proxy.js';
import { startRecordingProxy, type ProxyOptions, type RecordingProxy } from '../fixtures/recording-proxy.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { rejectionOf } from '../fixtures/rejection.js';

/** TLS, redirects and registries that answer HEAD badly: the transport under the registry client. */
let registry: TestRegistry;
let work: string;
let certsD: string;
let pushed: PushedImage;
let serverCert: TestCert;
let clientCert: TestCert;
const proxies: RecordingProxy[] = [];
const clients: DistributionClient[] = [];

function client(maxManifestBytes = 4 << 20): DistributionClient {
  const c = new DistributionClient({ configPath: certsD, maxManifestBytes, responseTimeoutMs: 5_000 });
  clients.push(c);
  return c;
}

async function proxy(opts: ProxyOptions = {}): Promise<RecordingProxy> {
  const p = await startRecordingProxy({ upstream: registry.url, ...opts });
  proxies.push(p);
  return p;
}

async function hostsToml(domain: string, toml: string): Promise<void> {
  await mkdir(join(certsD, domain), { recursive: true });
  await writeFile(join(certsD, domain, 'hosts.toml'), toml);
}

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-transport-'));
  certsD = join(work, 'certs.d');
  serverCert = await selfSignedCert(work, 'registry', { san: 'IP:127.0.0.1,DNS:registry.example' });
  clientCert = await selfSignedCert(work, 'kubelet-node');
  pushed = await pushImage(registry, 'app', 'v1', await busyboxImage());
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of proxies) await p.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('registry transport', () => {
  it('verifies a registry certificate against the ca of hosts.toml, or skips verification when told', async () => {
    const tls = await proxy({ tls: { key: serverCert.key, cert: serverCert.cert } });
    const ref = parseReference('tls.test/app:v1');

    await hostsToml('tls.test', `server = "${tls.url}"\n`);
    const err = await rejectionOf(client().resolve(ref));
    expect(isBerthError(err, 'Unavailable')).toBe(true);
    expect(err.message).toContain(tls.host);
    expect(err.message).toMatch(/certificate/i);

    await writeFile(join(certsD, 'tls.test', 'registry.crt'), serverCert.cert);
    await hostsToml('tls.test', `server = "${tls.url}"\nca = "registry.crt"\n`);
    expect((await client().resolve(ref)).digest).toBe(pushed.manifest.digest);

    await hostsToml('tls.test', `server = "${tls.url}"\nskip_verify = true\n`);
    expect((await client().resolve(ref)).digest).toBe(pushed.manifest.digest);
  });

  it('presents the client certificate of hosts.toml to a registry that demands one', async () => {
    const mtls = await proxy({ tls: { key: serverCert.key, cert: serverCert.cert, clientCa: clientCert.cert } });
    const ref = parseReference('mtls.test/app:v1');
    await hostsToml('mtls.test', `server = "${mtls.url}"\nca = "${serverCert.certFile}"\n`);
    expect(isBerthError(await rejectionOf(client().resolve(ref)), 'Unavailable')).toBe(true);
    await hostsToml('mtls.test', `server = "${mtls.url}"\nca = "${serverCert.certFile}"\nclient = [["${clientCert.certFile}", "${clientCert.keyFile}"]]\n`);
    expect((await client().resolve(ref)).digest).toBe(pushed.manifest.digest);
  });

  it('follows a blob redirect to another host without credentials or configured headers', async () => {
    const storage = await proxy();
    const front = await proxy({
      intercept: (req) => (req.url.includes('/blobs/') ? { status: 307, headers: { location: `${storage.url}${req.url}` } } : undefined),
    });
    await hostsToml('redirect.test', `server = "${front.url}"\n[header]\n  x-registry-secret = "s3cret"\n`);
    const ref = parseReference('redirect.test/app:v1');
    const layer = pushed.layers[0]!;
    const bytes = await buffer(await client().fetch(ref, descriptorOf(layer), { auth: { registryToken: 'pull-token' } }));
    expect(bytes.equals(layer.bytes)).toBe(true);
    const asked = front.requests.find((r) => r.url.includes(layer.digest))!;
    expect(asked.headers).toMatchObject({ authorization: 'Bearer pull-token', 'x-registry-secret': 's3cret' });
    const followed = storage.requests.find((r) => r.url.includes(layer.digest))!;
    expect(followed.headers.authorization).toBeUndefined();
    expect(followed.headers['x-registry-secret']).toBeUndefined();
  });

  it('reads the manifest when a registry answers HEAD without a digest or not at all', async () => {
    for (const [domain, reply] of [
      ['nohead.test', { status: 405 }],
      ['nodigest.test', { status: 200, headers: { 'content-type': 'application/json' } }],
    ] as const) {
      const odd = await proxy({ intercept: (req) => (req.method === 'HEAD' ? reply : undefined) });
      await hostsToml(domain, `server = "${odd.url}"\n`);
      expect(await client().resolve(parseReference(`${domain}/app:v1`))).toEqual(descriptorOf(pushed.manifest));
      expect(odd.requests.map((r) => r.method)).toEqual(['HEAD', 'GET']);
    }
  });

  it('refuses a manifest larger than images.max_manifest_bytes, and names registry error codes', async () => {
    const small = client(100);
    const err = await rejectionOf(small.resolve(parseReference(pushed.reference)));
    expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
    expect(err.message).toContain('images.max_manifest_bytes');

    const missing = await rejectionOf(client().fetch(parseReference(pushed.reference), { ...descriptorOf(pushed.config), digest: `sha256:${'0'.repeat(64)}` }));
    expect(isBerthError(missing, 'NotFound')).toBe(true);
    expect(missing.message).toContain('BLOB_UNKNOWN');
    expect(missing.message).toContain(`${registry.host}/app`);
  });

  it('reports a download broken off mid-body as Unavailable naming the host', async () => {
    const layer = pushed.layers[0]!;
    // Promises the whole layer, sends 100 bytes, then hangs up.
    const cut = createServer((socket) => {
      socket.once('data', () => {
        socket.end(`HTTP/1.1 200 OK\r\ncontent-length: ${layer.size}\r\n\r\n${'x'.repeat(100)}`);
      });
    });
    await new Promise<void>((r) => cut.listen(0, '127.0.0.1', r));
    const port = (cut.address() as AddressInfo).port;
    try {
      await hostsToml('cut.test', `server = "http://127.0.0.1:${port}"\n`);
      const store = await LocalContentStore.open(join(work, 'store-cut'));
      const ref = parseReference('cut.test/app:v1');
      const err = await rejectionOf(store.ingest(layer, () => client().fetch(ref, descriptorOf(layer))));
      expect(isBerthError(err, 'Unavailable')).toBe(true);
      expect(err.message).toContain(`127.0.0.1:${port}`);
      expect(await store.info(layer.digest)).toBeUndefined();
    } finally {
      cut.close();
    }
  });

  it('publishes every round trip on the berth:registry:request diagnostics channel', async () => {
    const events: RegistryRequestEvent[] = [];
    const listen = (e: unknown) => events.push(e as RegistryRequestEvent);
    diagnostics.subscribe('berth:registry:request', listen);
    try {
      await client().resolve(parseReference(pushed.reference));
    } finally {
      diagnostics.unsubscribe('berth:registry:request', listen);
    }
    const head = events.find((e) => e.method === 'HEAD' && e.status === 200);
    expect(head?.url).toBe(`http://${registry.host}/v2/app/manifests/v1`);
    expect(head?.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('ends a stalled download with the abort reason of the caller', async () => {
    const layer = pushed.layers[0]!;
    const sockets: Socket[] = [];
    const stall = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${layer.size}\r\n\r\n${'x'.repeat(100)}`));
    });
    await new Promise<void>((r) => stall.listen(0, '127.0.0.1', r));
    try {
      await hostsToml('stall.test', `server = "http://127.0.0.1:${(stall.address() as AddressInfo).port}"\n`);
      const store = await LocalContentStore.open(join(work, 'store-stall'));
      const ac = new AbortController();
      const ref = parseReference('stall.test/app:v1');
      const pending = store.ingest(layer, () => client().fetch(ref, descriptorOf(layer), { signal: ac.signal }), {
        onProgress: () => ac.abort(new Error('no progress for 1m0s')),
        signal: ac.signal,
      });
      expect((await rejectionOf(pending)).message).toBe('no progress for 1m0s');
      expect(await store.info(layer.digest)).toBeUndefined();
    } finally {
      for (const s of sockets) s.destroy();
      stall.close();
    }
  });

  it('goes through the proxy of hosts.toml or the environment, tunnelling TLS with CONNECT', async () => {
    const tls = await proxy({ tls: { key: serverCert.key, cert: serverCert.cert } });
    const tlsPort = Number(new URL(tls.url).port);
    const registryPort = Number(new URL(registry.url).port);
    // The proxy resolves registry.example: plain HTTP to the registry, TLS (port 443) to the TLS front.
    const forward = await startForwardProxy((host, port) => ({ host: '127.0.0.1', port: host === 'registry.example' ? (port === 443 ? tlsPort : registryPort) : port }));
    try {
      await hostsToml('plain.example', `server = "${registry.url}"\nproxy = "${forward.url}"\n`);
      expect((await client().resolve(parseReference('plain.example/app:v1'))).digest).toBe(pushed.manifest.digest);
      expect(forward.requests[0]).toMatchObject({ method: 'HEAD', target: `${registry.url}/v2/app/manifests/v1?ns=plain.example` });

      await hostsToml('registry.example', `server = "https://registry.example"\nca = "${serverCert.certFile}"\n`);
      await hostsToml('insecure.example', `server = "http://registry.example"\n`);
      const viaEnv = new DistributionClient({ configPath: certsD, maxManifestBytes: 4 << 20, env: { HTTPS_PROXY: forward.url, HTTP_PROXY: forward.url } });
      clients.push(viaEnv);
      forward.requests.length = 0;
      expect((await viaEnv.resolve(parseReference('registry.example/app:v1'))).digest).toBe(pushed.manifest.digest);
      expect(forward.requests[0]).toMatchObject({ method: 'CONNECT', target: 'registry.example:443' });
      expect(tls.requests.at(-1)?.url).toBe('/v2/app/manifests/v1');
      await buffer(await viaEnv.fetch(parseReference('insecure.example/app:v1'), descriptorOf(pushed.config)));
      expect(forward.requests.at(-1)?.target).toBe(`http://registry.example/v2/app/blobs/${pushed.config.digest}?ns=insecure.example`);

      // A dead proxy shows in the error; NO_PROXY skips it (and the name then resolves nowhere).
      for (const [noProxy, viaDeadProxy] of [['', true], ['registry.example', false]] as const) {
        const c = new DistributionClient({ configPath: certsD, maxManifestBytes: 4 << 20, env: { HTTPS_PROXY: 'http://127.0.0.1:1', NO_PROXY: noProxy } });
        clients.push(c);
        const err = await rejectionOf(c.resolve(parseReference('registry.example/app:v1')));
        expect(isBerthError(err, 'Unavailable')).toBe(true);
        expect(err.message.includes('proxy 127.0.0.1:1 is unreachable')).toBe(viaDeadProxy);
      }
    } finally {
      await forward.stop();
    }
  });
});
