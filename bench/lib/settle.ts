import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds, processesNaming } from './processes.js';
import type { RunningRuntime } from './runtime-under-test.js';

const POLL_MS = 50;
/**
 * One quiet poll is not enough: a process the scheduler keeps waiting (a spare shim boots at niceness 10)
 * shows no tick.
 */
const QUIET_POLLS = 2;
const MAX_MS = 3000;

/** CPU seconds of each pid; a process that has exited counts as idle. */
async function cpuTimes(pids: number[]): Promise<number[]> {
  return Promise.all(pids.map(async (pid) => {
    try {
      return await cpuSeconds(pid);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ESRCH') return 0;
      throw err;
    }
  }));
}

/**
 * Wait (at most 3 s) until the runtime's daemon and shims stop using CPU. A runtime goes on working after its
 * replies (berthd boots a spare shim after each CreateContainer); when the runtimes take turns, that after-work
 * must be charged to the runtime that caused it, not slow down and bill the other runtime's next pod.
 */
export async function settle(runtime: RunningRuntime): Promise<void> {
  const pids = (await processesNaming(runtime.dir)).map((p) => p.pid);
  const deadline = Date.now() + MAX_MS;
  let last = await cpuTimes(pids);
  let quiet = 0;
  while (quiet < QUIET_POLLS && Date.now() < deadline) {
    await sleep(POLL_MS);
    const now = await cpuTimes(pids);
    quiet = now.some((t, i) => t > (last[i] as number)) ? 0 : quiet + 1;
    last = now;
  }
}
