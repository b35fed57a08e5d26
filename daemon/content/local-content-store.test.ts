import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBerthError } from '../errors/errors.js';
import type { Digest } from '../oci/image-spec.js';
import type { BlobSource } from './content-store.js';
import { sha256Of } from '../oci/digest.js';
import { LocalContentStore } from './local-content-store.js';
import { rejectionOf } from '../../test/fixtures/rejection.js';

let root: string;
let store: LocalContentStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-content-'));
  store = await LocalContentStore.open(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const blob = (s: string) => ({ bytes: Buffer.from(s), digest: sha256Of(Buffer.from(s)), size: Buffer.byteLength(s) });
const from = (...chunks: Buffer[]): BlobSource => async () => Readable.from(chunks);

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 1));
}

describe('LocalContentStore', () => {
  it('commits a verified blob and reads it back', async () => {
    const b = blob('hello content');
    const info = await store.ingest(b, from(b.bytes.subarray(0, 5), b.bytes.subarray(5)));
    expect(info).toMatchObject({ digest: b.digest, size: b.size });
    expect(store.path(b.digest)).toBe(join(root, 'content/blobs/sha256', b.digest.slice(7)));
    expect((await stat(store.path(b.digest))).mode & 0o777).toBe(0o444);
    expect((await store.readAll(b.digest, 100)).toString()).toBe('hello content');
    expect(await text(await store.openRead(b.digest))).toBe('hello content');
    expect((await store.list()).map((i) => i.digest)).toEqual([b.digest]);
    expect(await readdir(join(root, 'content/ingest'))).toEqual([]);
  });

  it('does not open the source for a blob already present', async () => {
    const b = blob('present');
    await store.ingest(b, from(b.bytes));
    let opened = 0;
    await store.ingest(b, async () => {
      opened++;
      return Readable.from([b.bytes]);
    });
    expect(opened).toBe(0);
  });

  it('refuses bytes that do not match the digest, naming expected and got', async () => {
    const b = blob('the real bytes');
    const wrong = Buffer.from('the fake bytes');
    const err = await rejectionOf(store.ingest(b, from(wrong)));
    expect(isBerthError(err, 'DataLoss')).toBe(true);
    expect(err.message).toContain(`expected ${b.digest}`);
    expect(err.message).toContain(`got ${sha256Of(wrong)}`);
    expect(await store.info(b.digest)).toBeUndefined();
    expect(await readdir(join(root, 'content/ingest'))).toEqual([]);
  });

  it('stops reading a source that runs past the expected size', async () => {
    const b = blob('abcd');
    let pulled = 0;
    const endless = new Readable({
      highWaterMark: 1,
      read() {
        pulled++;
        this.push(Buffer.from('ab'));
      },
    });
    const err = await rejectionOf(store.ingest(b, async () => endless));
    expect(isBerthError(err, 'DataLoss')).toBe(true);
    expect(err.message).toMatch(/larger than its descriptor's 4 bytes/);
    expect(pulled).toBeLessThan(10);
    expect(endless.destroyed).toBe(true);
  });

  it('refuses a truncated blob', async () => {
    const b = blob('abcdef');
    const err = await rejectionOf(store.ingest(b, from(b.bytes.subarray(0, 3))));
    expect(err.message).toMatch(/ended after 3 of its 6 bytes/);
  });

  it('shares one download between concurrent ingests of a digest', async () => {
    const b = blob('x'.repeat(100_000));
    let opened = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const source: BlobSource = async () => {
      opened++;
      await gate;
      return Readable.from([b.bytes.subarray(0, 50_000), b.bytes.subarray(50_000)]);
    };
    const seen: number[] = [];
    const first = store.ingest(b, source);
    await until(() => opened === 1);
    const second = store.ingest(b, source, { onProgress: (n) => seen.push(n) });
    expect(store.isIngesting(b.digest)).toBe(true);
    release();
    const [a, c] = await Promise.all([first, second]);
    expect(a).toEqual(c);
    expect(opened).toBe(1);
    expect(seen.at(-1)).toBe(100_000);
    expect(store.isIngesting(b.digest)).toBe(false);
  });

  it('lets a waiter download itself when the first download fails', async () => {
    const b = blob('retry me');
    let fail!: (e: Error) => void;
    const broken: BlobSource = () => new Promise((_, reject) => (fail = reject));
    const first = store.ingest(b, broken);
    await until(() => fail !== undefined);
    const second = store.ingest(b, from(b.bytes));
    fail(new Error('connection reset'));
    const err = await rejectionOf(first);
    expect(isBerthError(err, 'Unavailable')).toBe(true);
    expect(err.message).toContain(b.digest);
    expect(await second).toMatchObject({ digest: b.digest });
  });

  it('stops a waiter on its own abort signal', async () => {
    const b = blob('slow');
    let finish!: () => void;
    const slow: BlobSource = async () => {
      await new Promise<void>((r) => (finish = r));
      return Readable.from([b.bytes]);
    };
    const first = store.ingest(b, slow);
    await until(() => finish !== undefined);
    const ac = new AbortController();
    const waiter = store.ingest(b, slow, { signal: ac.signal });
    ac.abort(new Error('kubelet cancelled'));
    expect((await rejectionOf(waiter)).message).toBe('kubelet cancelled');
    finish();
    await first;
  });

  it('caps readAll and names the limit', async () => {
    const b = blob('y'.repeat(2048));
    await store.ingest(b, from(b.bytes));
    const err = await rejectionOf(store.readAll(b.digest, 1024));
    expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
    expect(err.message).toContain('2048 bytes');
    expect(err.message).toContain('1024');
  });

  it('detects a blob corrupted on disk when reading it whole', async () => {
    const b = blob('good');
    await store.ingest(b, from(b.bytes));
    await rm(store.path(b.digest));
    await writeFile(store.path(b.digest), 'evil');
    expect(isBerthError(await rejectionOf(store.readAll(b.digest, 100)), 'DataLoss')).toBe(true);
  });

  it('reports absent blobs as NotFound and deletes idempotently', async () => {
    const d = sha256Of(Buffer.from('absent'));
    expect(isBerthError(await rejectionOf(store.openRead(d)), 'NotFound')).toBe(true);
    expect(await store.info(d)).toBeUndefined();
    await store.delete(d);
    const b = blob('gone soon');
    await store.ingest(b, from(b.bytes));
    await store.delete(b.digest);
    expect(await store.info(b.digest)).toBeUndefined();
  });

  it('refuses malformed digests before touching the filesystem', async () => {
    const err = await rejectionOf(store.ingest({ digest: 'sha256:../../etc/passwd' as Digest, size: 1 }, from(Buffer.from('x'))));
    expect(isBerthError(err, 'InvalidArgument')).toBe(true);
    expect(() => store.path('sha256:../x' as Digest)).toThrow(/not a valid digest/);
  });

  it('reports a full disk as ResourceExhausted and leaves no partial file', async () => {
    const small = join(root, 'small');
    await mkdir(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'berth-test', small]);
    try {
      const full = await LocalContentStore.open(small);
      const b = blob('z'.repeat(256 * 1024));
      const err = await rejectionOf(full.ingest(b, from(b.bytes)));
      expect(isBerthError(err, 'ResourceExhausted')).toBe(true);
      expect(err.message).toContain('content store: cannot write');
      expect(await readdir(join(small, 'content/ingest'))).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('removes leftover ingest files at open', async () => {
    await writeFile(join(root, 'content/ingest', 'deadbeef.123'), 'partial');
    await LocalContentStore.open(root);
    expect(await readdir(join(root, 'content/ingest'))).toEqual([]);
  });
});
