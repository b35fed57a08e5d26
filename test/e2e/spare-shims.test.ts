import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, processesUnder } from '../fixtures/leftovers.js';
import { containerConfig, podConfig, runContainer, usePodTestBed, waitFor } from '../fixtures/pods.js';

/**
 * berthd keeps one shim started ahead of need (state/spares/), so a CreateContainer does not wait for node to
 * boot a shim: the container's shim is the spare that was waiting, and another takes its place. A spare
 * outlives a killed daemon and is adopted by the next; a clean stop shuts it down.
 */
describe('spare shims', () => {
  const bed = usePodTestBed({ busybox: { config: { Env: ['PATH=/bin'] } } });

  /** The pid of the spare shim waiting in the daemon's spares dir, once there is exactly one. */
  const spare = (): Promise<number> =>
    waitFor('one spare shim', async () => {
      // A spare that was taken keeps its spare argv but has moved its socket into the bundle.
      const idle = (await processesUnder(join(bed.daemon.state, 'spares'))).filter((p) => existsSync(/--socket (\S+)/.exec(p)?.[1] ?? ''));
      return idle.length === 1 ? Number(idle[0]!.split(' ')[0]) : undefined;
    });

  it('a container gets the waiting spare as its shim, and a new spare is started', async () => {
    const waiting = await spare();
    const pod = podConfig('spare-pod');
    const { pod_sandbox_id: podId } = await bed.daemon.runtime.RunPodSandbox({ config: pod });
    const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('sleeper', bed.busybox.reference, ['sleep', '60']));
    const shimPid = Number(readFileSync(join(bed.daemon.state, 'k8s.io', id, 'shim.pid'), 'utf8'));
    expect(shimPid).toBe(waiting);
    // The spare booted at a low priority; as a container's shim it runs, and runs the container, at 0.
    const nice = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    expect(nice(shimPid)).toBe(0);
    expect(nice(await spare())).toBe(10);
    expect(await spare()).not.toBe(waiting);
    // The doctor finds the container's shim by the bundle it works in, not by its spare argv.
    expect(readFileSync(`/proc/${shimPid}/cwd/config.json`, 'utf8')).toContain(id);
  });

  it('a spare outlives a killed daemon and is adopted; a clean stop shuts it down', async () => {
    const waiting = await spare();
    await bed.daemon.kill();
    await bed.daemon.restart();
    expect(await spare()).toBe(waiting);
    await bed.daemon.stop();
    await waitFor('the spare to exit', async () => ((await alive(waiting)) ? undefined : true), 10_000);
    await bed.daemon.restart();
  });
});
