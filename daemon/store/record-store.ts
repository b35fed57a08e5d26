import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { alreadyExists, invalidArgument, notFound } from '../errors/errors.js';
import { removeFileDurable, TEMP_PREFIX, writeFileDurable } from '../fs/atomic-file.js';

/** What every stored object carries: its id, its CRI name (unique per store) and the fingerprint of its config. */
export interface StoredRecord {
  id: string;
  name: string;
  fingerprint: string;
}

/**
 * `build` memoised per record object. Sound because a stored record never changes in place: update() swaps in
 * a changed copy, so a changed record is a new key and its old entry goes with the old object.
 */
export function perRecord<R extends StoredRecord, V>(build: (record: R) => V): (record: R) => V {
  const built = new WeakMap<R, V>();
  return (record) => {
    let value = built.get(record);
    if (value === undefined) {
      value = build(record);
      built.set(record, value);
    }
    return value;
  };
}

/** 64 hex digits, like containerd and CRI-O ids. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** A stable digest of a decoded CRI config: keys sorted at every level, so field order never matters. */
export function fingerprint(value: unknown): string {
  const canonical = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canonical);
    if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return createHash('sha256').update(JSON.stringify(canonical(value))).digest('hex');
}

interface NameEntry<T> {
  id: string;
  fingerprint: string;
  /** Settles when the create holding the name finishes; a retry with the same config waits on it. */
  done: Promise<T>;
}

/**
 * Records of one kind (sandboxes or containers) of one namespace: in memory for lookups, and one JSON file per
 * record under `dir` written durably (temp file, fsync, rename, fsync dir), so a crash leaves each record either
 * old or new. A record handed out is never changed in place (update() replaces it), so views of it can be cached
 * per object (perRecord). Names are reserved for the whole create: a create retried with the same name and the same config
 * (kubelet timed out, the first attempt went on) gets the first attempt's record instead of an error, as in
 * CRI-O's resource store; a different config under a taken name is AlreadyExists naming the holder.
 */
export class RecordStore<T extends StoredRecord> {
  private readonly records = new Map<string, T>();
  private readonly names = new Map<string, NameEntry<T>>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly writes = new Map<string, Promise<void>>();
  /**
   * Ids whose record file exists but does not parse. Their objects are neither listed nor swept as leftovers of
   * an interrupted create: a damaged record is the operator's to repair (or berthctl doctor --fix's to remove).
   */
  readonly damaged: string[] = [];

  private constructor(
    private readonly dir: string,
    private readonly kind: string,
    private readonly removeHint: (id: string) => string,
  ) {}

  /**
   * Loads every record file of `dir`. Leftover temp files of a crashed write are deleted; a file that does not
   * parse is reported through `warn` and skipped, so one damaged record cannot keep the daemon from starting.
   */
  static async open<T extends StoredRecord>(opts: {
    dir: string;
    kind: string;
    /** How an operator removes the record with this id, for AlreadyExists messages. */
    removeHint: (id: string) => string;
    warn: (detail: { file: string; err: unknown }, msg: string) => void;
  }): Promise<RecordStore<T>> {
    const store = new RecordStore<T>(opts.dir, opts.kind, opts.removeHint);
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    for (const entry of await readdir(opts.dir)) {
      const file = path.join(opts.dir, entry);
      if (entry.startsWith(TEMP_PREFIX)) {
        await unlink(file);
        continue;
      }
      if (!entry.endsWith('.json')) continue;
      try {
        const record = JSON.parse(await readFile(file, 'utf8')) as T;
        if (typeof record.id !== 'string' || typeof record.name !== 'string') throw new Error('no id or name');
        store.records.set(record.id, record);
        store.names.set(record.name, { id: record.id, fingerprint: record.fingerprint, done: Promise.resolve(record) });
      } catch (err) {
        store.damaged.push(entry.slice(0, -'.json'.length));
        opts.warn({ file, err }, `${opts.kind} metadata file ignored (damaged); its objects are left alone, repair or remove the file`);
      }
    }
    return store;
  }

  /** The record with this id, or the only one whose id starts with it (crictl prints truncated ids). */
  find(idOrPrefix: string): T | undefined {
    const exact = this.records.get(idOrPrefix);
    if (exact !== undefined || idOrPrefix === '') return exact;
    let hit: T | undefined;
    for (const [id, record] of this.records) {
      if (!id.startsWith(idOrPrefix)) continue;
      if (hit !== undefined) throw invalidArgument(`${this.kind} id prefix "${idOrPrefix}" is ambiguous; give more characters of the id`);
      hit = record;
    }
    return hit;
  }

  get(idOrPrefix: string): T {
    if (idOrPrefix === '') throw invalidArgument(`${this.kind} id is empty; pass the id returned at creation`);
    const record = this.find(idOrPrefix);
    if (record === undefined) throw notFound(`${this.kind} ${idOrPrefix} not found; list them with crictl to see existing ids`, { id: idOrPrefix });
    return record;
  }

  list(): T[] {
    return [...this.records.values()];
  }

  /** Ids of creates under way: their objects exist on disk before their record does, so sweeps leave them alone. */
  creating(): string[] {
    return [...this.names.values()].filter((e) => !this.records.has(e.id)).map((e) => e.id);
  }

  /**
   * Creates a record under a reserved name. `create` receives the new id, does the work and returns the record,
   * which is then persisted. On failure the name is released so a retry starts afresh.
   */
  async create(name: string, configFingerprint: string, create: (id: string) => Promise<T>): Promise<{ record: T; existing: boolean }> {
    for (;;) {
      const held = this.names.get(name);
      if (held === undefined) break;
      if (held.fingerprint !== configFingerprint) {
        throw alreadyExists(
          `${this.kind} name "${name}" is already reserved by ${this.kind} ${held.id} with a different config; ${this.removeHint(held.id)} first`,
          { name, id: held.id },
        );
      }
      try {
        return { record: await held.done, existing: true };
      } catch {
        // The first attempt failed and released the name; this retry makes its own attempt.
        continue;
      }
    }
    const id = newId();
    const done = (async () => {
      const record = await create(id);
      await this.save(record);
      return record;
    })();
    const entry: NameEntry<T> = { id, fingerprint: configFingerprint, done };
    this.names.set(name, entry);
    try {
      return { record: await done, existing: false };
    } catch (err) {
      if (this.names.get(name) === entry) this.names.delete(name);
      throw err;
    }
  }

  /** Persists `record` (new or changed) and makes it the current one. */
  async save(record: T): Promise<void> {
    this.records.set(record.id, record);
    await this.persist(record.id);
  }

  /**
   * Applies `change` to a copy of the current record, makes the copy current at once (so a second update
   * that starts before this one's write finishes builds on it rather than on stale data), persists it and
   * returns it.
   */
  async update(id: string, change: (record: T) => void): Promise<T> {
    const next = structuredClone(this.get(id));
    change(next);
    this.records.set(id, next);
    await this.persist(id);
    return next;
  }

  /** Writes the current version of record `id`; writes of one record are queued so the file ends as the latest. */
  private async persist(id: string): Promise<void> {
    const previous = this.writes.get(id) ?? Promise.resolve();
    const write = previous.catch(() => undefined).then(async () => {
      const current = this.records.get(id);
      if (current !== undefined) await writeFileDurable(this.file(id), JSON.stringify(current, null, 1));
    });
    this.writes.set(id, write);
    try {
      await write;
    } finally {
      if (this.writes.get(id) === write) this.writes.delete(id);
    }
  }

  async delete(id: string): Promise<void> {
    const record = this.records.get(id);
    this.records.delete(id);
    await this.writes.get(id)?.catch(() => undefined);
    await removeFileDurable(this.file(id));
    if (record !== undefined && this.names.get(record.name)?.id === id) this.names.delete(record.name);
  }

  /**
   * Runs `fn` with the record's lock held: start, stop, update and remove of one object never interleave, while
   * different objects proceed in parallel.
   */
  async withLock<R>(id: string, fn: () => Promise<R>): Promise<R> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  private file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }
}
