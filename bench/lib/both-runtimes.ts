import { startBerth } from './berth.js';
import { startContainerd } from './containerd.js';
import { attempt, type Outcome } from './outcome.js';
import type { RunningRuntime, RuntimeOptions } from './runtime-under-test.js';

export type RuntimeName = 'containerd' | 'berth';
export type StartRuntime = () => Promise<RunningRuntime>;

/**
 * Run one bench body against containerd, then berth, with the same options; a runtime that is skipped or fails
 * yields a reason instead of numbers. containerd goes first so that its numbers exist even if berth hangs.
 */
export async function measureBoth<T>(opts: RuntimeOptions, skip: Record<RuntimeName, boolean>,
  body: (name: RuntimeName, start: StartRuntime) => Promise<T>): Promise<Record<RuntimeName, Outcome<T>>> {
  const starters: Record<RuntimeName, StartRuntime> = {
    containerd: () => startContainerd(opts),
    berth: () => startBerth(opts),
  };
  const results = {} as Record<RuntimeName, Outcome<T>>;
  for (const name of ['containerd', 'berth'] as const) {
    results[name] = skip[name]
      ? { ok: false, reason: 'skipped by flag' }
      : await attempt(name, () => body(name, starters[name]));
  }
  return results;
}
