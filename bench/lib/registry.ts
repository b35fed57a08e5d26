import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnDaemon } from './daemon-process.js';
import { MEDIA_TYPE_MANIFEST, type BuiltImage } from './image-builder.js';

/** Debian's docker-registry (Distribution 2.8) on a loopback port, with its storage in a temp dir. */
export interface LocalRegistry {
  /** host:port, the registry part of an image reference. */
  host: string;
  url: string;
  /** Write <certsDir>/<host>/hosts.toml telling containerd-style clients to use plain http for this registry. */
  writeHostsToml(certsDir: string): Promise<void>;
  /** Push blobs (skipping ones already present), then the manifest under tag; returns `host/repo:tag`. */
  push(repo: string, tag: string, image: BuiltImage): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not pick a free loopback port');
  return address.port;
}

async function check(res: Response, what: string): Promise<Response> {
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  return res;
}

export async function startRegistry(parentDir = '/var/tmp'): Promise<LocalRegistry> {
  const dir = await mkdtemp(join(parentDir, 'bench-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const configFile = join(dir, 'config.yml');
  await writeFile(configFile, [
    'version: 0.1',
    // Access logs would add the registry's disk writes to every runtime's pull time.
    'log: { level: warn, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} }, delete: { enabled: true } }`,
    `http: { addr: ${host} }`,
    '',
  ].join('\n'));
  const daemon = spawnDaemon('docker-registry', ['serve', configFile], join(dir, 'registry.log'));
  const stop = async (): Promise<void> => {
    await daemon.terminate();
    await rm(dir, { recursive: true, force: true });
  };

  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/v2/`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (i === 200 || daemon.ended() !== undefined) {
      const tail = daemon.logTail();
      await stop();
      throw new Error(`docker-registry did not come up on ${host}:\n${tail}`);
    }
    await sleep(50);
  }

  const pushBlob = async (repo: string, digest: string, body: Buffer): Promise<void> => {
    if ((await fetch(`${url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).ok) return;
    const started = await check(await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' }),
      `start upload of ${digest}`);
    const location = new URL(started.headers.get('location') ?? '', url);
    location.searchParams.set('digest', digest);
    await check(await fetch(location, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body,
    }), `upload ${digest} to ${repo}`);
  };

  return {
    host,
    url,
    stop,
    async writeHostsToml(certsDir: string): Promise<void> {
      await mkdir(join(certsDir, host), { recursive: true });
      await writeFile(join(certsDir, host, 'hosts.toml'),
        `server = "${url}"\n\n[host."${url}"]\n  capabilities = ["pull", "resolve"]\n`);
    },
    async push(repo: string, tag: string, image: BuiltImage): Promise<string> {
      for (const layer of image.layers) await pushBlob(repo, layer.digest, await readFile(layer.file));
      await pushBlob(repo, image.configDigest, image.config);
      await check(await fetch(`${url}/v2/${repo}/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'content-type': MEDIA_TYPE_MANIFEST },
        body: image.manifest,
      }), `put manifest ${repo}:${tag}`);
      return `${host}/${repo}:${tag}`;
    },
  };
}
