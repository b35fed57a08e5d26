import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../daemon/content/local-content-store.js';
import { isBerthError } from '../../daemon/errors/errors.js';
import { sha256Of } from '../../daemon/oci/digest.js';
import { MediaType, type ImageIndex } from '../../daemon/oci/image-spec.js';
import { parseReference } from '../../daemon/oci/reference.js';
import { DistributionClient } from '../../daemon/registry/distribution-client.js';
import { busyboxImage, descriptorOf, pushImage, pushIndex, pushMultiPlatformBusybox, dummyImage, type PushedImage } from '../fixtures/images.js';
import { freePort, startRegistry, type TestRegistry } from '../fixtures/registry.js';
import { startRecordingProxy, type RecordingProxy } from '../fixtures/recording-proxy.js';
import { rejectionOf } from '../fixtures/rejection.js';

const MAX_MANIFEST = 4 << 20;

let registry: TestRegistry;
let work: string;
let certsD: string;
let client: DistributionClient;
let oci: PushedImage;
let docker: PushedImage;
const proxies: RecordingProxy[] = [];

async function hostsToml(domain: string, toml: string): Promise<void> {
  await mkdir(join(certsD, domain), { recursive: true });
  await writeFile(join(certsD, domain, 'hosts.toml'), toml);
}

async function proxy(opts: Parameters<typeof startRecordingProxy>[0] = {}): Promise<RecordingProxy> {
  const p = await startRecordingProxy({ upstream: registry.url, ...opts });
  proxies.push(p);
  return p;
}

beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-regclient-'));
  certsD = join(work, 'certs.d');
  await mkdir(certsD);
  client = new DistributionClient({ configPath: certsD, maxManifestBytes: MAX_MANIFEST, responseTimeoutMs: 5_000 });
  oci = await pushImage(registry, 'busybox', 'oci', await busyboxImage({ format: 'oci' }));
  docker = await pushImage(registry, 'busybox', 'docker', await busyboxImage({ format: 'docker' }));
});

afterAll(async () => {
  client?.close();
  for (const p of proxies) await p.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('DistributionClient against docker-registry', () => {
  it('resolves a tag to the OCI manifest descriptor (https refused by a localhost registry falls back to http)', async () => {
    const desc = await client.resolve(parseReference(oci.reference));
    expect(desc).toEqual(descriptorOf(oci.manifest));
    expect(desc.mediaType).toBe(MediaType.ociManifest);
  });

  it('resolves by digest, and tag+digest by the digest', async () => {
    expect(await client.resolve(parseReference(oci.digestReference))).toEqual(descriptorOf(oci.manifest));
    const both = `${registry.host}/busybox:no-such-tag@${oci.manifest.digest}`;
    expect((await client.resolve(parseReference(both))).digest).toBe(oci.manifest.digest);
  });

  it('resolves a Docker schema2 manifest', async () => {
    const desc = await client.resolve(parseReference(docker.reference));
    expect(desc).toEqual(descriptorOf(docker.manifest));
    expect(desc.mediaType).toBe(MediaType.dockerManifest);
  });

  it('fetches manifest, config and layers byte for byte', async () => {
    const ref = parseReference(oci.reference);
    const manifest = await buffer(await client.fetch(ref, descriptorOf(oci.manifest)));
    expect(manifest.equals(oci.manifest.bytes)).toBe(true);
    expect((await buffer(await client.fetch(ref, descriptorOf(oci.config)))).equals(oci.config.bytes)).toBe(true);
    const layer = await buffer(await client.fetch(ref, descriptorOf(oci.layers[0]!)));
    expect(sha256Of(layer)).toBe(oci.layers[0]!.digest);
  });

  it('resolves OCI indexes and Docker manifest lists', async () => {
    const multi = await pushMultiPlatformBusybox(registry, 'multi', 'oci', 'oci');
    const desc = await client.resolve(parseReference(multi.reference));
    expect(desc).toEqual(descriptorOf(multi.index));
    expect(desc.mediaType).toBe(MediaType.ociIndex);
    const index = JSON.parse((await buffer(await client.fetch(parseReference(multi.reference), desc))).toString()) as ImageIndex;
    expect(index.manifests.map((m) => m.platform?.architecture)).toEqual(['amd64', 'arm64']);

    const list = await pushIndex(registry, 'multi', 'docker', [await busyboxImage({ format: 'docker' }), await dummyImage('arm64', 'docker')], 'docker');
    expect((await client.resolve(parseReference(list.reference))).mediaType).toBe(MediaType.dockerManifestList);
  });

  it('reports a missing tag or repository as NotFound naming the reference', async () => {
    for (const name of [`${registry.host}/busybox:missing`, `${registry.host}/nothing/here:v1`]) {
      const err = await rejectionOf(client.resolve(parseReference(name)));
      expect(isBerthError(err, 'NotFound')).toBe(true);
      expect(err.message).toContain(name);
    }
  });

  it('ingests fetched blobs into the content store, sharing one download between concurrent pulls', async () => {
    const mirror = await proxy();
    const domain = 'dedupe.test';
    await hostsToml(domain, `server = "${mirror.url}"\n`);
    await pushImage(registry, 'dedupe', 'v1', oci);
    const store = await LocalContentStore.open(join(work, 'store-dedupe'));
    const ref = parseReference(`${domain}/dedupe:v1`);
    const layer = oci.layers[0]!;
    const infos = await Promise.all(
      [1, 2, 3].map(() => store.ingest(layer, () => client.fetch(ref, descriptorOf(layer)))),
    );
    expect(new Set(infos.map((i) => i.digest))).toEqual(new Set([layer.digest]));
    expect(mirror.requests.filter((r) => r.url.includes(`/blobs/${layer.digest}`))).toHaveLength(1);
  });

  it('has the content store refuse a blob whose bytes do not match its digest', async () => {
    const img = await pushImage(registry, 'tampered', 'v1', {
      layers: [{ entries: [{ path: 'hello.txt', content: 'the real content\n' }] }],
    });
    const layer = img.layers[0]!;
    const forged = Buffer.from(layer.bytes);
    forged[forged.length - 5] ^= 0xff;
    await registry.tamperBlob(layer.digest, forged);
    const store = await LocalContentStore.open(join(work, 'store-tamper'));
    const ref = parseReference(img.reference);
    const err = await rejectionOf(store.ingest(layer, () => client.fetch(ref, descriptorOf(layer))));
    expect(isBerthError(err, 'DataLoss')).toBe(true);
    expect(err.message).toContain(`expected ${layer.digest}`);
    expect(err.message).toContain(`got ${sha256Of(forged)}`);
    expect(await store.info(layer.digest)).toBeUndefined();
  });

  it('refuses schema1 manifests with a clear error', async () => {
    const schema1 = JSON.stringify({ schemaVersion: 1, name: 'old', tag: 'v1', architecture: 'amd64', fsLayers: [], history: [] });
    const fake = await proxy({
      intercept: (req) =>
        req.url.includes('/manifests/')
          ? { status: 200, headers: { 'content-type': MediaType.dockerManifestSchema1Signed, 'docker-content-digest': sha256Of(Buffer.from(schema1)) }, body: schema1 }
          : undefined,
    });
    await hostsToml('schema1.test', `server = "${fake.url}"\n`);
    const err = await rejectionOf(client.resolve(parseReference('schema1.test/old:v1')));
    expect(isBerthError(err, 'FailedPrecondition')).toBe(true);
    expect(err.message).toContain('schema1 manifests are deprecated and not supported; re-push the image');
    expect(err.message).toContain('schema1.test/old:v1');
  });

  it('sends docker.io to a plain-HTTP local registry named by server in hosts.toml', async () => {
    await pushImage(registry, 'library/busybox', 'mirrored', oci);
    await hostsToml('docker.io', `server = "${registry.url}"\n`);
    try {
      const desc = await client.resolve(parseReference('busybox:mirrored'));
      expect(desc.digest).toBe(oci.manifest.digest);
    } finally {
      await rm(join(certsD, 'docker.io'), { recursive: true });
    }
  });

  it('tries a [host] entry before the server, with its headers and the ns parameter', async () => {
    const mirror = await proxy();
    const server = await proxy();
    await pushImage(registry, 'team/app', 'v1', oci);
    await hostsToml(
      'upstream.test:5000',
      `server = "${server.url}"\n\n[host."${mirror.url}"]\n  capabilities = ["pull", "resolve"]\n  [host."${mirror.url}".header]\n    x-berth-test = ["one", "two"]\n`,
    );
    const ref = parseReference('upstream.test:5000/team/app:v1');
    expect((await client.resolve(ref)).digest).toBe(oci.manifest.digest);
    await buffer(await client.fetch(ref, descriptorOf(oci.config)));
    expect(server.requests).toHaveLength(0);
    const first = mirror.requests[0]!;
    expect(first.url).toBe('/v2/team/app/manifests/v1?ns=upstream.test%3A5000');
    expect(first.headers['x-berth-test']).toBe('one, two');
    expect(mirror.requests.some((r) => r.url.startsWith(`/v2/team/app/blobs/${oci.config.digest}`))).toBe(true);
  });

  it('falls back from a failing mirror to the server, and skips mirrors without the capability', async () => {
    const deadPort = await freePort();
    const pullOnly = await proxy();
    const server = await proxy();
    await pushImage(registry, 'fallback', 'v1', oci);
    await hostsToml(
      'fallback.test',
      [
        `server = "${server.url}"`,
        `[host."http://127.0.0.1:${deadPort}"]`,
        '  capabilities = ["pull", "resolve"]',
        `[host."${pullOnly.url}"]`,
        '  capabilities = ["pull"]',
        `  override_path = true`,
      ].join('\n'),
    );
    const ref = parseReference('fallback.test/fallback:v1');
    expect((await client.resolve(ref)).digest).toBe(oci.manifest.digest);
    expect(pullOnly.requests).toHaveLength(0);
    expect(server.requests.length).toBeGreaterThan(0);
    // override_path: the mirror URL has no /v2 root, so it 404s and the server answers.
    await buffer(await client.fetch(ref, descriptorOf(oci.config)));
    expect(pullOnly.requests[0]?.url).toMatch(/^\/fallback\/blobs\//);
  });

  it('names the host when every host is unreachable', async () => {
    const deadPort = await freePort();
    const err = await rejectionOf(client.resolve(parseReference(`127.0.0.1:${deadPort}/x:v1`)));
    expect(isBerthError(err, 'Unavailable')).toBe(true);
    expect(err.message).toContain(`127.0.0.1:${deadPort}`);
  });

  it('gives up after the response timeout, and on abort', async () => {
    // A server that accepts connections and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    await hostsToml('hang.test', `server = "http://127.0.0.1:${port}"\n`);
    const slow = new DistributionClient({ configPath: certsD, maxManifestBytes: MAX_MANIFEST, responseTimeoutMs: 300 });
    try {
      const err = await rejectionOf(slow.resolve(parseReference('hang.test/x:v1')));
      expect(isBerthError(err, 'DeadlineExceeded')).toBe(true);
      expect(err.message).toContain(`127.0.0.1:${port}`);
      const ac = new AbortController();
      const pending = client.resolve(parseReference('hang.test/x:v1'), { signal: ac.signal });
      ac.abort(new Error('pull cancelled'));
      expect((await rejectionOf(pending)).message).toBe('pull cancelled');
    } finally {
      slow.close();
      silent.close();
    }
  });
});
