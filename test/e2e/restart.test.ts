import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectBerth } from '../../proto/berth-client.js';
import type { ContainerStatus__Output } from '../../proto/gen/runtime/v1/ContainerStatus.js';
import { busyboxImage, pushImage } from '../fixtures/images.js';
import { alive, leftovers, NOTHING_LEFT, processesUnder } from '../fixtures/leftovers.js';
import { containerConfig, E2E_CGROUP_PARENT, podConfig, runContainer, usePodTestBed, waitExited, waitFor } from '../fixtures/pods.js';

/**
 * Restart recovery through the CRI socket: berthd stopped (SIGTERM) or killed (SIGKILL) with pods READY and
 * NOTREADY and containers CREATED, RUNNING and EXITED, one exiting while the daemon is down; then broken
 * entries (a hung shim, a dead shim, a damaged record) that must not hold up the others.
 */
describe('restart recovery', () => {
  const bed = usePodTestBed({
    busybox: { config: { Env: ['PATH=/bin'] } },
    berthd: async (registry) => {
      const pause = await pushImage({ url: registry.url }, 'e2e/pause', '1', await busyboxImage({ config: { Entrypoint: ['sleep', '2147483647'] } }));
      // A collection every second all along: it must never touch what the records name.
      return { config: { cri: { sandbox_image: pause.reference }, images: { gc_interval: '1s' } } };
    },
  });

  const containerState = async (id: string) => {
    const { status, info } = await bed.daemon.runtime.ContainerStatus({ container_id: id, verbose: true });
    return { status: status as ContainerStatus__Output, pid: JSON.parse(info['info'] ?? '{}').pid as number };
  };
  const podState = async (id: string) => {
    const { status, info } = await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true });
    const verbose = JSON.parse(info['info'] ?? '{}') as { netNamespace: string; pid: number };
    return { state: status?.state, ip: status?.network?.ip, createdAt: status?.created_at, netns: verbose.netNamespace, infraPid: verbose.pid };
  };
  const doctor = async (fix: boolean) => {
    const berth = connectBerth(bed.daemon.socket);
    try {
      return (await berth.doctor.Check({ namespace: '', fix })).findings;
    } finally {
      berth.close();
    }
  };
  const logNumbers = async (file: string): Promise<number[]> =>
    (await readFile(file, 'utf8'))
      .split('\n')
      .map((line) => /stdout F line (\d+)$/.exec(line)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number);

  for (const mode of ['SIGTERM', 'SIGKILL'] as const) {
    it(`reports every pod and container as before after ${mode}, and they stay manageable`, async () => {
      const logDir = join(bed.daemon.dir, `logs-${mode}`);
      const ready = podConfig(`ready-${mode.toLowerCase()}`, { log_directory: logDir });
      const readyId = (await bed.daemon.runtime.RunPodSandbox({ config: ready })).pod_sandbox_id;
      const run = (name: string, command: string[]) => runContainer(bed.daemon.runtime, readyId, ready, containerConfig(name, bed.busybox.reference, command));
      const created = (await bed.daemon.runtime.CreateContainer({ pod_sandbox_id: readyId, config: containerConfig('created', bed.busybox.reference, ['sleep', '1000']), sandbox_config: ready })).container_id;
      const chatty = await run('chatty', ['sh', '-c', 'i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done']);
      const exited = await run('exited', ['sh', '-c', 'exit 3']);
      const later = await run('later', ['sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done; exit 7']);
      await waitExited(bed.daemon.runtime, exited);
      // Its status is recorded, so its shim has been released: no idle shim per exited container.
      await waitFor('the shim of the exited container to go', async () => ((await processesUnder(join(bed.daemon.state, 'k8s.io', exited))).length === 0 ? true : undefined), 5000);

      const stopped = podConfig(`notready-${mode.toLowerCase()}`);
      const stoppedId = (await bed.daemon.runtime.RunPodSandbox({ config: stopped })).pod_sandbox_id;
      const inStopped = await runContainer(bed.daemon.runtime, stoppedId, stopped, containerConfig('victim', bed.busybox.reference, ['sleep', '1000']));
      const createdInStopped = (await bed.daemon.runtime.CreateContainer({ pod_sandbox_id: stoppedId, config: containerConfig('never', bed.busybox.reference, ['true']), sandbox_config: stopped })).container_id;
      await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: stoppedId });

      // A shared-PID pod: its infra container holds the PID namespace and must be found again too.
      const shared = podConfig(`sharedpid-${mode.toLowerCase()}`, {
        linux: { cgroup_parent: E2E_CGROUP_PARENT, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
      });
      const sharedId = (await bed.daemon.runtime.RunPodSandbox({ config: shared })).pod_sandbox_id;
      const inShared = await runContainer(bed.daemon.runtime, sharedId, shared, containerConfig('peer', bed.busybox.reference, ['sleep', '1000'], {
        linux: { security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
      }));

      const containers = [created, chatty, exited, later, inStopped, createdInStopped, inShared];
      const before = new Map(await Promise.all(containers.map(async (id) => [id, await containerState(id)] as const)));
      const podsBefore = new Map(await Promise.all([readyId, stoppedId, sharedId].map(async (id) => [id, await podState(id)] as const)));
      expect(podsBefore.get(sharedId)).toMatchObject({ state: 'SANDBOX_READY', infraPid: expect.any(Number) });
      expect(podsBefore.get(sharedId)?.infraPid).toBeGreaterThan(0);
      expect(podsBefore.get(readyId)).toMatchObject({ state: 'SANDBOX_READY', ip: expect.stringMatching(/^10\.252\./) });
      expect(podsBefore.get(stoppedId)?.state).toBe('SANDBOX_NOTREADY');
      expect(before.get(created)?.status.state).toBe('CONTAINER_CREATED');
      expect(before.get(chatty)?.status.state).toBe('CONTAINER_RUNNING');
      expect(before.get(exited)?.status).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 3 });
      expect(before.get(inStopped)?.status.state).toBe('CONTAINER_EXITED');
      expect(before.get(createdInStopped)?.status.state).toBe('CONTAINER_CREATED');

      const info = await (mode === 'SIGTERM' ? bed.daemon.stop('SIGTERM') : bed.daemon.kill());
      expect(info.signal ?? 'exit 0').toBe(mode === 'SIGTERM' ? 'exit 0' : 'SIGKILL');
      expect(await alive(before.get(chatty)!.pid)).toBe(true);
      // The container exits while nobody listens to its shim.
      const downFrom = BigInt(Date.now()) * 1_000_000n;
      const laterPid = before.get(later)!.pid;
      await writeFile(join(bed.daemon.state, 'k8s.io', later, 'rootfs', 'go'), '');
      await waitFor('the container to exit during the downtime', async () => ((await alive(laterPid)) ? undefined : true), 10_000);
      const downTo = BigInt(Date.now()) * 1_000_000n;
      await bed.daemon.restart();

      for (const [id, pod] of podsBefore) expect(await podState(id), `pod ${id}`).toEqual(pod);
      for (const [id, was] of before) {
        const now = await containerState(id);
        if (id === later) {
          expect(now.status).toMatchObject({ ...was.status, state: 'CONTAINER_EXITED', exit_code: 7, reason: 'Error', finished_at: expect.any(String) });
          expect(BigInt(now.status.finished_at)).toBeGreaterThanOrEqual(downFrom);
          expect(BigInt(now.status.finished_at)).toBeLessThanOrEqual(downTo);
          continue;
        }
        expect(now, `container ${was.status.metadata?.name}`).toEqual(was);
      }
      const listed = await bed.daemon.runtime.ListContainers({ filter: { pod_sandbox_id: readyId } });
      expect(listed.containers.map((c) => c.id).sort()).toEqual([created, chatty, exited, later].sort());

      // The log kept flowing through the downtime and flows on: no number missing, more coming.
      const logFile = join(logDir, 'chatty.log');
      const seen = (await logNumbers(logFile)).length;
      await waitFor('more log lines', async () => ((await logNumbers(logFile)).length > seen + 3 ? true : undefined), 5000);
      const numbers = await logNumbers(logFile);
      expect(numbers).toEqual(numbers.map((_, i) => i));

      expect((await bed.daemon.runtime.ExecSync({ container_id: chatty, cmd: ['echo', 'after restart'], timeout: 10 })).stdout.toString()).toBe('after restart\n');
      // The peer still shares the infra container's PID namespace: the infra's sleep is pid 1 there.
      expect((await bed.daemon.runtime.ExecSync({ container_id: inShared, cmd: ['cat', '/proc/1/cmdline'], timeout: 10 })).stdout.toString()).toContain('sleep');
      await bed.daemon.runtime.StartContainer({ container_id: created });
      expect((await containerState(created)).status.state).toBe('CONTAINER_RUNNING');
      const pids = [...before.values()].map((b) => b.pid).concat((await containerState(created)).pid).filter((p) => p > 0);
      for (const id of [created, chatty, inShared]) await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 0 });
      for (const id of containers) await bed.daemon.runtime.RemoveContainer({ container_id: id });
      for (const id of [readyId, stoppedId, sharedId]) {
        await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: id });
        await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
      }
      expect(await leftovers(bed.daemon, bed.daemon.pid)).toEqual(NOTHING_LEFT);
      for (const pid of pids) expect(await alive(pid), `pid ${pid}`).toBe(false);
    });
  }

  it('recovers the healthy entries when one shim hangs, one is dead and one record is damaged', async () => {
    const pod = podConfig('broken');
    const podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    const run = (name: string) => runContainer(bed.daemon.runtime, podId, pod, containerConfig(name, bed.busybox.reference, ['sleep', '1000']));
    const [healthy, hung, dead, damaged, unreachable] = [await run('healthy'), await run('hung'), await run('dead'), await run('damaged'), await run('unreachable')];
    const pidOf = async (id: string) => (await containerState(id)).pid;
    const shimPid = async (id: string): Promise<number> => {
      // The shim is the container's parent (a child subreaper).
      const stat = await readFile(`/proc/${await pidOf(id)}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    };
    const hungShim = await shimPid(hung);
    const deadShim = await shimPid(dead);
    const deadPid = await pidOf(dead);
    const unreachableShim = await shimPid(unreachable);
    const unreachablePid = await pidOf(unreachable);
    const damagedFile = join(bed.daemon.root, 'metadata', 'k8s.io', 'containers', `${damaged}.json`);
    const record = await readFile(damagedFile, 'utf8');

    await bed.daemon.kill();
    process.kill(hungShim, 'SIGSTOP');
    process.kill(deadShim, 'SIGKILL');
    // A shim that lives on without its socket: nobody can reach it any more.
    await rm(join(bed.daemon.state, 'k8s.io', unreachable, 'shim.sock'));
    await writeFile(damagedFile, record.slice(0, 40));
    try {
      const started = Date.now();
      await bed.daemon.restart();
      // One time limit per entry, not per daemon: the hung shim costs its own limit once.
      expect(Date.now() - started).toBeLessThan(15_000);
      expect((await containerState(healthy)).status.state).toBe('CONTAINER_RUNNING');
      expect((await podState(podId)).state).toBe('SANDBOX_READY');
      const hungStatus = (await containerState(hung)).status;
      expect(hungStatus).toMatchObject({ state: 'CONTAINER_UNKNOWN', reason: 'Unknown' });
      expect(hungStatus.message).toMatch(/did not answer/);
      // The dead shim's container is stopped, not orphaned, and reported with how it ended.
      const deadStatus = (await containerState(dead)).status;
      expect(deadStatus).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 255 });
      expect(deadStatus.message).toMatch(/shim/);
      await waitFor('the orphaned container to be gone', async () => ((await alive(deadPid)) ? undefined : true), 5000);
      // The damaged record is not listed, and not swept either: its container keeps running for the operator.
      expect((await bed.daemon.runtime.ListContainers({})).containers.map((c) => c.id)).not.toContain(damaged);
      expect(await alive(await pidOf(healthy))).toBe(true);
      expect(bed.daemon.logs()).toContain(`${damaged}.json`);
      // The unreachable shim's container is stopped with the runtime like the dead one's; the shim itself is
      // for the doctor, which kills it.
      expect((await containerState(unreachable)).status).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 255 });
      await waitFor('the unreachable container to be gone', async () => ((await alive(unreachablePid)) ? undefined : true), 5000);
      const found = await doctor(false);
      expect(found.map((f) => `${f.kind} ${f.subject}`)).toEqual(expect.arrayContaining([`shim ${unreachableShim}`, `damaged-metadata ${damaged}`]));
    } finally {
      process.kill(hungShim, 'SIGCONT');
    }
    // The periodic collection tries the unknown container again: its shim answers now.
    await waitFor('the hung container to be running again', async () => ((await containerState(hung)).status.state === 'CONTAINER_RUNNING' ? true : undefined), 10_000);
    // Repaired by hand, the record comes back on the next start.
    await writeFile(damagedFile, record);
    await bed.daemon.restart();
    expect((await containerState(damaged)).status.state).toBe('CONTAINER_RUNNING');
    expect((await containerState(hung)).status.state).toBe('CONTAINER_RUNNING');
    // What is left for the doctor is the shim without a socket; --fix kills it.
    expect((await doctor(true)).map((f) => `${f.kind} ${f.subject} ${f.fixed}`)).toEqual([`shim ${unreachableShim} true`]);
    await waitFor('the unreachable shim to be killed', async () => ((await alive(unreachableShim)) ? undefined : true), 5000);
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: podId });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
    expect(await leftovers(bed.daemon, bed.daemon.pid)).toEqual(NOTHING_LEFT);
  });

  it('notices a shim killed while its container runs, stops the container and leaves nothing behind', async () => {
    const pod = podConfig('shimkill');
    const podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('orphan', bed.busybox.reference, ['sleep', '1000']));
    const pid = (await containerState(id)).pid;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const shim = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    process.kill(shim, 'SIGKILL');
    const status = await waitExited(bed.daemon.runtime, id, 10_000);
    expect(status).toMatchObject({ exit_code: 255 });
    expect(status.message).toMatch(/shim/);
    await waitFor('the container process to be gone', async () => ((await alive(pid)) ? undefined : true), 5000);
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 0 });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: podId });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
    expect(await leftovers(bed.daemon, bed.daemon.pid)).toEqual(NOTHING_LEFT);
  });
});
