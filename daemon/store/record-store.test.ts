import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, RecordStore, type StoredRecord } from './record-store.js';

interface Rec extends StoredRecord { value: number }
let dir: string;
const open = () => RecordStore.open<Rec>({ dir, kind: 'thing', removeHint: (id) => `remove it with rm ${id}`, warn: () => undefined });

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-store-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('RecordStore', () => {
  it('persists records durably and reloads them, skipping damaged files and temp leftovers', async () => {
    const store = await open();
    const { record } = await store.create('a', 'f1', async (id) => ({ id, name: 'a', fingerprint: 'f1', value: 1 }));
    expect(record.id).toMatch(/^[0-9a-f]{64}$/);
    await store.update(record.id, (r) => { r.value = 2; });
    await writeFile(path.join(dir, 'broken.json'), '{');
    await writeFile(path.join(dir, '.tmp-abc-x.json'), '{}');
    const again = await open();
    expect(again.damaged).toEqual(['broken']);
    expect(again.get(record.id).value).toBe(2);
    expect(again.get(record.id.slice(0, 8)).id).toBe(record.id);
    expect(await readdir(dir)).not.toContain('.tmp-abc-x.json');
    await again.delete(record.id);
    expect(() => again.get(record.id)).toThrow(/not found/);
  });

  it('same name + same config returns the same record, even while the first create runs', async () => {
    const store = await open();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = store.create('n', 'f', async (id) => { await gate; return { id, name: 'n', fingerprint: 'f', value: 1 }; });
    const second = store.create('n', 'f', async () => { throw new Error('must not run'); });
    // The id is reserved before anything is made, so sweeps can leave the create's objects alone.
    expect(store.creating()).toHaveLength(1);
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(b.record.id).toBe(a.record.id);
    expect(b.existing).toBe(true);
    await expect(store.create('n', 'other', async (id) => ({ id, name: 'n', fingerprint: 'other', value: 0 }))).rejects.toMatchObject({
      kind: 'AlreadyExists',
      message: expect.stringContaining(a.record.id),
    });
  });

  it('a failed create releases the name', async () => {
    const store = await open();
    await expect(store.create('n', 'f', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    const { existing } = await store.create('n', 'f', async (id) => ({ id, name: 'n', fingerprint: 'f', value: 1 }));
    expect(existing).toBe(false);
  });

  it('fingerprints ignore key order', () => {
    expect(fingerprint({ a: 1, b: { c: [1, 2], d: 'x' } })).toBe(fingerprint({ b: { d: 'x', c: [1, 2] }, a: 1 }));
  });

  it('withLock serialises per id', async () => {
    const store = await open();
    const order: string[] = [];
    await Promise.all([
      store.withLock('x', async () => { await new Promise((r) => setTimeout(r, 20)); order.push('1'); }),
      store.withLock('x', async () => { order.push('2'); }),
    ]);
    expect(order).toEqual(['1', '2']);
  });
});
