import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Of } from '../../daemon/oci/digest.js';
import { MediaType, type ImageConfig, type ImageManifest } from '../../daemon/oci/image-spec.js';
import { buildImage, busyboxImage, busyboxLayer, pushImage, tarLayer } from '../fixtures/images.js';
import { startRegistry, type TestRegistry } from '../fixtures/registry.js';

/** The fixtures other suites build on: checked against GNU tar and the registry itself, not against berth. */
let registry: TestRegistry;
let work: string;
beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), 'berth-fixtures-'));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('image fixtures', () => {
  it('build the same bytes every time', async () => {
    const cached = await busyboxImage();
    // A copy of the spec is a new cache key, so this builds and compresses the layer again.
    const rebuilt = await buildImage({ layers: [{ ...busyboxLayer() }] });
    expect(rebuilt.manifest.digest).toBe(cached.manifest.digest);
    expect(rebuilt.layers[0]!.bytes.equals(cached.layers[0]!.bytes)).toBe(true);
  });

  it('make a busybox layer GNU tar reads, with applet symlinks', async () => {
    const img = await busyboxImage();
    const file = join(work, 'layer.tar');
    await writeFile(file, gunzipSync(img.layers[0]!.bytes));
    expect(sha256Of(gunzipSync(img.layers[0]!.bytes))).toBe(img.diffIds[0]);
    const listing = execFileSync('tar', ['-tvf', file], { encoding: 'utf8' });
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* bin\/busybox$/m);
    expect(listing).toMatch(/^lrwxrwxrwx 0\/0 .* bin\/sh -> busybox$/m);
    expect(listing).toMatch(/^drwxrwxrwt 0\/0 .* tmp\/$/m);
    const config = JSON.parse(img.config.bytes.toString()) as ImageConfig;
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', rootfs: { diff_ids: img.diffIds }, config: { Cmd: ['sh'] } });
  });

  it('write hostile entries as given', async () => {
    const tar = await tarLayer([
      { path: '../escape', content: 'x' },
      { path: '/abs', content: 'y' },
      { path: 'link', type: 'symlink', linkname: '/etc/shadow' },
      { path: 'hard', type: 'link', linkname: '../../outside' },
      { path: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
      { path: 'x', content: 'z', pax: { 'SCHILY.xattr.user.k': 'v' } },
    ]);
    const file = join(work, 'hostile.tar');
    await writeFile(file, tar);
    const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual(['../escape', '/abs', 'link', 'hard', 'dev/null', 'x']);
  });

  it('push images the registry serves back unchanged, uncompressed layers too', async () => {
    const pushed = await pushImage(registry, 'fixture/plain', 'v1', {
      format: 'docker',
      layers: [{ entries: [{ path: 'a', content: 'A' }], compression: 'none' }],
      config: { Entrypoint: ['/a'] },
    });
    const res = await fetch(`${registry.url}/v2/fixture/plain/manifests/v1`, { headers: { accept: MediaType.dockerManifest } });
    expect(res.headers.get('docker-content-digest')).toBe(pushed.manifest.digest);
    const manifest = (await res.json()) as ImageManifest;
    expect(manifest.layers[0]!.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar');
    const blob = Buffer.from(await (await fetch(`${registry.url}/v2/fixture/plain/blobs/${manifest.layers[0]!.digest}`)).arrayBuffer());
    expect(sha256Of(blob)).toBe(pushed.diffIds[0]);
  });

  it('tamper a stored blob while its digest stays the same', async () => {
    const img = await buildImage({ layers: [{ entries: [{ path: 'f', content: 'original' }] }] });
    await pushImage(registry, 'fixture/tamper', 'v1', img);
    const layer = img.layers[0]!;
    await registry.tamperBlob(layer.digest, Buffer.alloc(layer.size, 7));
    const served = Buffer.from(await (await fetch(`${registry.url}/v2/fixture/tamper/blobs/${layer.digest}`)).arrayBuffer());
    expect(served.equals(Buffer.alloc(layer.size, 7))).toBe(true);
  });
});
