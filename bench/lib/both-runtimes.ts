import { startBerth } from './berth.js';
import { startContainerd } from './containerd.js';
import { attempt, type Outcome } from './outcome.js';
import type { RunningRuntime, RuntimeOptions } from './runtime-under-test.js';

export type RuntimeName = 'containerd' | 'berth';
export type StartRuntime = () => Promise<RunningRuntime>;

/** containerd first, so that its numbers exist even if berth hangs. */
const RUNTIMES: readonly RuntimeName[] = ['containerd', 'berth'];

function starters(opts: RuntimeOptions): Record<RuntimeName, StartRuntime> {
  return { containerd: () => startContainerd(opts), berth: () => startBerth(opts) };
}

/** fn for each runtime in turn; a runtime that is skipped or whose fn throws yields a reason instead. */
async function forEachRuntime<T>(skip: Record<RuntimeName, boolean>, fn: (name: RuntimeName) => Promise<T>):
  Promise<Record<RuntimeName, Outcome<T>>> {
  const results = {} as Record<RuntimeName, Outcome<T>>;
  for (const name of RUNTIMES) {
    results[name] = skip[name] ? { ok: false, reason: 'skipped by flag' } : await attempt(name, () => fn(name));
  }
  return results;
}

/** Run one bench body against containerd, then berth, with the same options. */
export function measureBoth<T>(opts: RuntimeOptions, skip: Record<RuntimeName, boolean>,
  body: (name: RuntimeName, start: StartRuntime) => Promise<T>): Promise<Record<RuntimeName, Outcome<T>>> {
  const start = starters(opts);
  return forEachRuntime(skip, (name) => body(name, start[name]));
}

/** Start both runtimes (each in its own temp dir), for a bench that measures them side by side. */
export function startBoth(opts: RuntimeOptions, skip: Record<RuntimeName, boolean>):
  Promise<Record<RuntimeName, Outcome<RunningRuntime>>> {
  const start = starters(opts);
  return forEachRuntime(skip, (name) => start[name]());
}
