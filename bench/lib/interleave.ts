import type { RuntimeName } from './both-runtimes.js';
import { attempt, type Outcome } from './outcome.js';
import type { RunningRuntime } from './runtime-under-test.js';

interface Lane<S> {
  readonly name: RuntimeName;
  readonly state: S;
  /** Why this runtime dropped out, once a step of it failed. */
  failure?: string;
}

/**
 * The runtimes of a bench that measures them turn by turn in one run, so that the machine's speed, which drifts
 * by tens of percent over minutes on a shared VM, weighs on both alike. A runtime whose step throws drops out
 * with the reason and the other carries on: one runtime failing never costs the other its numbers.
 */
export class Lanes<S> {
  private readonly lanes: Lane<S>[] = [];
  /** Runtimes that never got a lane (skipped, or failed to start), with the reason. */
  private readonly absent: Partial<Record<RuntimeName, string>> = {};

  /** init makes a started runtime's state (its client, its pods so far). */
  constructor(started: Record<RuntimeName, Outcome<RunningRuntime>>, init: (runtime: RunningRuntime) => S) {
    for (const [name, o] of Object.entries(started) as [RuntimeName, Outcome<RunningRuntime>][]) {
      if (o.ok) this.lanes.push({ name, state: init(o.value) });
      else this.absent[name] = o.reason;
    }
  }

  /**
   * step on each runtime still in, one after the other; on odd turns in the reverse order, so that neither
   * runtime always runs first (on a fresher machine) or straight after the other's work.
   */
  async alternate(turn: number, step: (state: S) => Promise<void>): Promise<void> {
    const order = turn % 2 === 0 ? this.lanes : [...this.lanes].reverse();
    for (const lane of order) {
      if (lane.failure !== undefined) continue;
      const done = await attempt(lane.name, () => step(lane.state));
      if (!done.ok) lane.failure = done.reason;
    }
  }

  /** step on each runtime still in, in a fixed order (for untimed work). */
  each(step: (state: S) => Promise<void>): Promise<void> {
    return this.alternate(0, step);
  }

  /** Each runtime's numbers, or why there are none. */
  outcomes<R>(result: (state: S) => R): Record<RuntimeName, Outcome<R>> {
    const out = {} as Record<RuntimeName, Outcome<R>>;
    for (const [name, reason] of Object.entries(this.absent) as [RuntimeName, string][]) {
      out[name] = { ok: false, reason };
    }
    for (const lane of this.lanes) {
      out[lane.name] = lane.failure === undefined ? { ok: true, value: result(lane.state) }
        : { ok: false, reason: lane.failure };
    }
    return out;
  }

  /** close on every runtime that started, failed ones included. */
  async closeAll(close: (state: S) => Promise<void>): Promise<void> {
    for (const lane of this.lanes) await close(lane.state);
  }
}
