import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Digest } from '../oci/image-spec.js';
import { groupById, ImageStore, type ImageRecord, type ImageStoreWarning } from './image-store.js';

const dg = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;
const rec = (name: string, config: string, target = 'e'): ImageRecord => ({
  name,
  target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: dg(target), size: 10 },
  manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: dg('f'), size: 20 },
  configDigest: dg(config),
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: dg('1'), size: 30 }],
  diffIDs: [dg('2')],
  chainID: dg('2'),
  size: 60,
  createdAt: 1,
  platform: { os: 'linux', architecture: 'amd64' },
});

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-image-store-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ImageStore', () => {
  it('persists records per namespace and reloads them', async () => {
    const store = await ImageStore.open(root, () => undefined);
    await store.put('k8s.io', rec('docker.io/library/busybox:latest', 'a'));
    await store.put('moby', rec('docker.io/library/busybox:latest', 'a'));
    await store.put('k8s.io', rec('docker.io/library/other:1', 'b'));
    expect(await store.delete('k8s.io', 'docker.io/library/other:1')).toBe(true);
    expect(await store.delete('k8s.io', 'docker.io/library/other:1')).toBe(false);

    const again = await ImageStore.open(root, () => undefined);
    expect(again.list('k8s.io').map((r) => r.name)).toEqual(['docker.io/library/busybox:latest']);
    expect(again.list('moby')).toHaveLength(1);
    expect([...again.all()]).toHaveLength(2);
    expect(again.byId('k8s.io', dg('a'))).toHaveLength(1);
  });

  it('removes crash leftovers and quarantines damaged files', async () => {
    const store = await ImageStore.open(root, () => undefined);
    await store.put('k8s.io', rec('docker.io/library/busybox:latest', 'a'));
    const dir = join(root, 'metadata', 'k8s.io', 'images');
    await writeFile(join(dir, '.tmp-123-x.json'), '{"half');
    await writeFile(join(dir, 'bad.json'), 'not json');
    const warnings: ImageStoreWarning[] = [];
    const again = await ImageStore.open(root, (w) => warnings.push(w));
    expect(again.list('k8s.io')).toHaveLength(1);
    expect(warnings.map((w) => w.file)).toEqual([join(dir, 'bad.json')]);
    const left = await readdir(dir);
    expect(left).toHaveLength(2);
    expect(left).toContain('bad.json.corrupt');
    expect(left.filter((f) => /^[a-f0-9]{64}\.json$/.test(f))).toHaveLength(1);
  });

  it('resolves unique ID prefixes and refuses ambiguous ones', async () => {
    const store = await ImageStore.open(root, () => undefined);
    await store.put('k8s.io', rec('x.test/a:1', 'a'));
    await store.put('k8s.io', rec('x.test/b:1', 'ab'.repeat(32).slice(0, 1)));
    expect(store.idByPrefix('k8s.io', 'aaaa')).toBe(dg('a'));
    expect(store.idByPrefix('k8s.io', 'sha256:aaa')).toBe(dg('a'));
    expect(store.idByPrefix('k8s.io', 'b')).toBeUndefined();
    expect(store.idByPrefix('k8s.io', 'zz')).toBeUndefined();
    await store.put('k8s.io', rec('x.test/c:1', 'a'.repeat(63) + 'b'));
    expect(() => store.idByPrefix('k8s.io', 'aaaa')).toThrow(/ambiguous/);
  });

  it('refuses unsafe namespaces', async () => {
    const store = await ImageStore.open(root, () => undefined);
    await expect(store.put('../etc', rec('x.test/a:1', 'a'))).rejects.toThrow(/invalid namespace/);
  });
});

describe('groupById', () => {
  it('reports one image per config digest with its tags and digests', () => {
    const views = groupById([
      rec('docker.io/library/busybox:latest', 'a'),
      rec('docker.io/library/busybox:1.36', 'a'),
      rec(`docker.io/library/busybox@${dg('e')}`, 'a'),
      rec('localhost:5000/x:1', 'b', 'd'),
    ]);
    expect(views).toHaveLength(2);
    const busybox = views.find((v) => v.id === dg('a'));
    expect(busybox?.repoTags).toEqual(['docker.io/library/busybox:1.36', 'docker.io/library/busybox:latest']);
    expect(busybox?.repoDigests).toEqual([`docker.io/library/busybox@${dg('e')}`]);
    expect(views.find((v) => v.id === dg('b'))?.repoDigests).toEqual([`localhost:5000/x@${dg('d')}`]);
  });
});
