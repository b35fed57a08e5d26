import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSecondsWithReaped, hostBusySeconds, processesNaming } from './processes.js';
import type { RunningRuntime } from './runtime-under-test.js';

const POLL_MS = 50;
/**
 * One quiet poll is not enough: a process the scheduler keeps waiting (a spare shim boots at niceness 10)
 * shows no tick.
 */
const QUIET_POLLS = 2;
const MAX_MS = 3000;

/** CPU seconds of each of the runtime's processes (daemon, shims), with the children they reaped. */
async function runtimeCpuByPid(runtime: RunningRuntime): Promise<Map<number, number>> {
  const pids = (await processesNaming(runtime.dir)).map((p) => p.pid);
  return new Map(await Promise.all(pids.map(async (pid) => [pid, await cpuSecondsWithReaped(pid)] as const)));
}

/**
 * CPU seconds the runtime used while fn ran: its daemon and shims (those started meanwhile from 0) and the
 * runc and CNI plugin processes they reaped. Unlike the machine's busy time, other load does not count; nor
 * does kernel work done on the runtime's behalf in kernel threads.
 */
export async function runtimeCpuDuring<T>(runtime: RunningRuntime, fn: () => Promise<T>):
  Promise<{ value: T; cpu: number }> {
  const before = await runtimeCpuByPid(runtime);
  const value = await fn();
  const after = await runtimeCpuByPid(runtime);
  let cpu = 0;
  for (const [pid, t] of after) cpu += t - (before.get(pid) ?? 0);
  return { value, cpu };
}

/**
 * Wait (at most 3 s) until the runtime's daemon and shims stop using CPU. A runtime goes on working after its
 * replies (berthd boots a spare shim after each CreateContainer); when the runtimes take turns, that after-work
 * must be charged to the runtime that caused it, not slow down and bill the other runtime's next pod.
 */
export async function settle(runtime: RunningRuntime): Promise<void> {
  const pids = (await processesNaming(runtime.dir)).map((p) => p.pid);
  const read = (): Promise<number[]> => Promise.all(pids.map(cpuSecondsWithReaped));
  const deadline = Date.now() + MAX_MS;
  let last = await read();
  let quiet = 0;
  while (quiet < QUIET_POLLS && Date.now() < deadline) {
    await sleep(POLL_MS);
    const now = await read();
    quiet = now.some((t, i) => t > (last[i] as number)) ? 0 : quiet + 1;
    last = now;
  }
}

/** Busy share of one core below which the machine counts as quiet. */
const HOST_QUIET_SHARE = 0.25;
const HOST_POLL_MS = 100;

/**
 * Wait (at most 3 s) until the whole machine is quiet for one poll: the kernel goes on working after a runtime
 * is idle (a removed pod's network namespace is destroyed by a kernel worker, cgroups are released), and that
 * work would otherwise land in whichever runtime's unit is timed next.
 */
export async function settleHost(): Promise<void> {
  const deadline = Date.now() + MAX_MS;
  while (Date.now() < deadline) {
    const before = await hostBusySeconds();
    await sleep(HOST_POLL_MS);
    if ((await hostBusySeconds()) - before < (HOST_POLL_MS / 1000) * HOST_QUIET_SHARE) return;
  }
}
