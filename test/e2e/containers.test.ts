import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { containerConfig, E2E_CGROUP_PARENT, podConfig, runContainer, usePodTestBed, waitExited, waitFor } from '../fixtures/pods.js';
import { rejectionOf } from '../fixtures/rejection.js';

const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;
const MiB = 1024 * 1024;

/**
 * Containers through berthd's socket on real runc and overlayfs: logs, exit codes, OOM kills, stop escalation,
 * exec limits, security context, resource updates in the cgroup, stats, and containers outliving a killed daemon.
 */
describe('CRI containers', () => {
  const bed = usePodTestBed({ busybox: { config: { Cmd: ['sh'], Env: ['PATH=/bin', 'FROM_IMAGE=1'], StopSignal: 'SIGTERM' } } });
  let pod: PodSandboxConfig;
  let podId: string;
  let logDir: string;

  const run = (name: string, command: string[], over: Parameters<typeof containerConfig>[3] = {}): Promise<string> =>
    runContainer(bed.daemon.runtime, podId, pod, containerConfig(name, bed.busybox.reference, command, over));
  const exec = (id: string, cmd: string[], timeout = 10) => bed.daemon.runtime.ExecSync({ container_id: id, cmd, timeout });

  beforeAll(async () => {
    logDir = join(bed.daemon.dir, 'pod-logs');
    pod = podConfig('containers', { log_directory: logDir });
    podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
  });

  it('writes output to the CRI log and records exit codes and reasons', async () => {
    const ok = await run('ok', ['sh', '-c', 'echo "hello $FROM_IMAGE $GREETING"; echo oops >&2'], { envs: [{ key: 'GREETING', value: Buffer.from('world') }] });
    const bad = await run('bad', ['sh', '-c', 'exit 3']);
    const okStatus = await waitExited(bed.daemon.runtime, ok);
    expect(okStatus).toMatchObject({ exit_code: 0, reason: 'Completed', log_path: join(logDir, 'ok.log') });
    expect(BigInt(okStatus.finished_at)).toBeGreaterThanOrEqual(BigInt(okStatus.started_at));
    expect(await waitExited(bed.daemon.runtime, bad)).toMatchObject({ exit_code: 3, reason: 'Error' });
    const lines = (await readFile(join(logDir, 'ok.log'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.find((l) => l.includes(' stdout '))).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d) stdout F hello 1 world$/);
    expect(lines.find((l) => l.includes(' stderr '))).toMatch(/ stderr F oops$/);
    const listed = await bed.daemon.runtime.ListContainers({ filter: { pod_sandbox_id: podId, state: { state: 'CONTAINER_EXITED' }, label_selector: { container: 'bad' } } });
    expect(listed.containers.map((c) => c.id)).toEqual([bad]);
    await bed.daemon.runtime.RemoveContainer({ container_id: ok });
    await bed.daemon.runtime.RemoveContainer({ container_id: bad });
    expect(await readFile(join(logDir, 'ok.log'), 'utf8')).toContain('hello');
  });

  it('reports the termination message written to /dev/termination-log', async () => {
    const id = await run('msg', ['sh', '-c', 'echo -n "all done" > /dev/termination-log; exit 1']);
    expect(await waitExited(bed.daemon.runtime, id)).toMatchObject({ exit_code: 1, message: 'all done' });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('reports OOMKilled for a container over its memory limit', async () => {
    const id = await run('oom', ['sh', '-c', 'head -c 50m /dev/zero | tail'], { linux: { resources: { memory_limit_in_bytes: 8 * MiB } } });
    expect(await waitExited(bed.daemon.runtime, id)).toMatchObject({ reason: 'OOMKilled', exit_code: 137 });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('kills a container that ignores its stop signal once the timeout has passed', async () => {
    const id = await run('stubborn', ['sh', '-c', "trap '' TERM; sleep 1000 & wait; sleep 1000"]);
    await waitFor('the trap to be installed', async () => ((await exec(id, ['sh', '-c', 'ps | grep -v grep | grep -q "sleep 1000"'])).exit_code === 0 ? true : undefined));
    const started = Date.now();
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    const { status } = await bed.daemon.runtime.ContainerStatus({ container_id: id });
    expect(status).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137 });
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 2 });

    const quick = await run('quick', ['sleep', '1000']);
    const t0 = Date.now();
    await bed.daemon.runtime.StopContainer({ container_id: quick, timeout: 0 });
    expect(Date.now() - t0).toBeLessThan(1500);
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
    await bed.daemon.runtime.RemoveContainer({ container_id: quick });
  });

  it('execs with a timeout and a 16 MiB output cap', async () => {
    const id = await run('exec', ['sleep', '1000']);
    const echo = await exec(id, ['sh', '-c', 'echo out; echo err >&2; exit 4']);
    expect(echo.stdout.toString()).toBe('out\n');
    expect(echo.stderr.toString()).toBe('err\n');
    expect(echo.exit_code).toBe(4);
    const slow = await grpcFailure(exec(id, ['sleep', '30'], 1));
    expect(slow.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    const big = await exec(id, ['head', '-c', '20m', '/dev/zero'], 30);
    // Capped at 16 MiB by the shim, then to what fits a 16 MiB gRPC reply.
    expect(big.stdout.length).toBeGreaterThan(16 * MiB - 4096);
    expect(big.stdout.length).toBeLessThan(16 * MiB);
    expect(big.exit_code).toBe(0);
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('applies the security context: user by name, read-only rootfs, dropped capabilities', async () => {
    const id = await run('secure', ['sleep', '1000'], {
      linux: {
        security_context: {
          run_as_username: 'nobody',
          readonly_rootfs: true,
          capabilities: { drop_capabilities: ['NET_RAW'] },
          namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' },
        },
      },
    });
    expect((await exec(id, ['id', '-u'])).stdout.toString().trim()).toBe('65534');
    const touch = await exec(id, ['touch', '/newfile']);
    expect(touch.exit_code).not.toBe(0);
    expect(touch.stderr.toString()).toMatch(/Read-only file system/);
    const { status } = await bed.daemon.runtime.ContainerStatus({ container_id: id });
    expect(status?.user?.linux).toMatchObject({ uid: '65534', gid: '65534' });

    const root = await run('caps', ['sleep', '1000'], { linux: { security_context: { capabilities: { drop_capabilities: ['NET_RAW'] }, namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } } });
    const capEff = (await exec(root, ['grep', 'CapEff', '/proc/self/status'])).stdout.toString().split(/\s+/)[1]!;
    const CAP_NET_RAW = 13n;
    expect(BigInt(`0x${capEff}`) & (1n << CAP_NET_RAW)).toBe(0n);
    const ping = await exec(root, ['ping', '-c1', '-W1', '127.0.0.1']);
    expect(ping.exit_code).not.toBe(0);
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
    await bed.daemon.runtime.RemoveContainer({ container_id: root });
  });

  it('confines with the RuntimeDefault seccomp profile and frees privileged containers', async () => {
    const confined = await run('seccomp', ['sleep', '1000'], {
      linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault' }, namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    });
    expect((await exec(confined, ['grep', 'Seccomp:', '/proc/self/status'])).stdout.toString()).toMatch(/Seccomp:\s+2/);
    await bed.daemon.runtime.RemoveContainer({ container_id: confined });

    const privileged = { privileged: true, namespace_options: { network: 'POD' as const, pid: 'CONTAINER' as const, ipc: 'POD' as const } };
    const privPod = podConfig('privileged', { linux: { cgroup_parent: E2E_CGROUP_PARENT, security_context: privileged } });
    const { pod_sandbox_id: privPodId } = await bed.daemon.runtime.RunPodSandbox({ config: privPod });
    const id = await runContainer(bed.daemon.runtime, privPodId, privPod, containerConfig('priv', bed.busybox.reference, ['sleep', '1000'], { linux: { security_context: privileged } }));
    const status = (await exec(id, ['sh', '-c', 'grep -E "CapEff|Seccomp:" /proc/self/status; grep " /sys " /proc/self/mounts'])).stdout.toString();
    // Everything berthd holds (this VM lacks CAP_SYS_RESOURCE, so not literally every capability).
    const bounding = /CapBnd:\s+([0-9a-f]+)/.exec(await readFile('/proc/self/status', 'utf8'))![1]!;
    expect(status).toContain(`CapEff:\t${bounding}`);
    expect(status).toMatch(/Seccomp:\s+0/);
    expect(status).toMatch(/ \/sys sysfs rw/);
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: privPodId });
  });

  it('changes resources in the cgroup with UpdateContainerResources and reports stats', async () => {
    const id = await run('resize', ['sh', '-c', 'head -c 5m /dev/zero > /tmp/fill; sleep 1000'], { linux: { resources: { memory_limit_in_bytes: 64 * MiB } } });
    const { info } = await bed.daemon.runtime.ContainerStatus({ container_id: id, verbose: true });
    const verbose = JSON.parse(info['info']!);
    expect(verbose.runtimeSpec.linux.cgroupsPath).toBe(`${E2E_CGROUP_PARENT}/${id}`);
    const v2 = (await execa('stat', ['-fc', '%T', '/sys/fs/cgroup'])).stdout.trim() === 'cgroup2fs';
    const file = v2 ? join('/sys/fs/cgroup', E2E_CGROUP_PARENT, id, 'memory.max') : join('/sys/fs/cgroup/memory', E2E_CGROUP_PARENT, id, 'memory.limit_in_bytes');
    expect(Number(await readFile(file, 'utf8'))).toBe(64 * MiB);
    await bed.daemon.runtime.UpdateContainerResources({ container_id: id, linux: { memory_limit_in_bytes: 128 * MiB, cpu_shares: 512 } });
    expect(Number(await readFile(file, 'utf8'))).toBe(128 * MiB);
    const { status } = await bed.daemon.runtime.ContainerStatus({ container_id: id });
    expect(status?.resources?.linux?.memory_limit_in_bytes).toBe(String(128 * MiB));

    await waitFor('the fill file', async () => ((await exec(id, ['test', '-s', '/tmp/fill'])).exit_code === 0 ? true : undefined));
    const { stats } = await bed.daemon.runtime.ContainerStats({ container_id: id });
    expect(Number(stats?.memory?.working_set_bytes?.value)).toBeGreaterThan(0);
    expect(BigInt(stats!.cpu!.usage_core_nano_seconds!.value)).toBeGreaterThan(0n);
    expect(Number(stats?.writable_layer?.used_bytes?.value)).toBeGreaterThanOrEqual(5 * MiB);
    const listed = await bed.daemon.runtime.ListContainerStats({ filter: { id } });
    expect(listed.stats.map((s) => s.attributes?.id)).toEqual([id]);
    const again = await bed.daemon.runtime.ContainerStats({ container_id: id });
    expect(again.stats?.cpu?.usage_nano_cores).not.toBeNull();
    const podStats = await bed.daemon.runtime.PodSandboxStats({ pod_sandbox_id: podId });
    expect(podStats.stats?.linux?.containers?.map((c) => c.attributes?.id)).toContain(id);
    expect(podStats.stats?.linux?.network?.default_interface?.name).toBe('eth0');
    await bed.daemon.runtime.ReopenContainerLog({ container_id: id });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('keeps containers running when berthd is killed, and manages them after restart', async () => {
    const id = await run('survivor', ['sleep', '1000']);
    const { info } = await bed.daemon.runtime.ContainerStatus({ container_id: id, verbose: true });
    const pid = JSON.parse(info['info']!).pid as number;
    await bed.daemon.kill();
    expect(() => process.kill(pid, 0)).not.toThrow();
    // What a create interrupted by the crash leaves: a bundle no record names.
    const orphan = join(bed.daemon.state, 'k8s.io', 'a'.repeat(64));
    await mkdir(join(orphan, 'rootfs'), { recursive: true });
    const state = await execa('runc', ['--root', join(bed.daemon.state, 'runc/k8s.io'), 'state', id]);
    expect(JSON.parse(state.stdout).status).toBe('running');
    await bed.daemon.restart();
    expect((await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: podId })).status?.state).toBe('SANDBOX_READY');
    expect(existsSync(orphan)).toBe(false);
    const { status } = await bed.daemon.runtime.ContainerStatus({ container_id: id });
    expect(status?.state).toBe('CONTAINER_RUNNING');
    expect((await exec(id, ['echo', 'still here'])).stdout.toString()).toBe('still here\n');
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 0 });
    expect((await bed.daemon.runtime.ContainerStatus({ container_id: id })).status?.state).toBe('CONTAINER_EXITED');
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('answers bad requests with the codes kubelet expects', async () => {
    const unknownPod = await grpcFailure(bed.daemon.runtime.CreateContainer({ pod_sandbox_id: 'f'.repeat(64), config: containerConfig('x', bed.busybox.reference, ['true']) }));
    expect(unknownPod.code).toBe(GrpcStatus.NOT_FOUND);
    expect(unknownPod.details).toContain('f'.repeat(64));
    const noImage = await grpcFailure(bed.daemon.runtime.CreateContainer({ pod_sandbox_id: podId, config: { metadata: { name: 'x' }, command: ['true'] } }));
    expect(noImage.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const noMeta = await grpcFailure(bed.daemon.runtime.CreateContainer({ pod_sandbox_id: podId, config: { image: { image: bed.busybox.reference } } }));
    expect(noMeta.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const notPulled = await grpcFailure(bed.daemon.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig('y', 'registry.invalid/none:1', ['true']) }));
    expect(notPulled.code).toBe(GrpcStatus.NOT_FOUND);
    expect((await grpcFailure(bed.daemon.runtime.ContainerStatus({ container_id: 'e'.repeat(64) }))).code).toBe(GrpcStatus.NOT_FOUND);
    expect((await grpcFailure(bed.daemon.runtime.StartContainer({ container_id: 'e'.repeat(64) }))).code).toBe(GrpcStatus.NOT_FOUND);
    await bed.daemon.runtime.StopContainer({ container_id: 'e'.repeat(64), timeout: 0 });
    await bed.daemon.runtime.RemoveContainer({ container_id: 'e'.repeat(64) });

    const id = await run('twice', ['sleep', '1000']);
    expect((await grpcFailure(bed.daemon.runtime.StartContainer({ container_id: id }))).code).toBe(GrpcStatus.FAILED_PRECONDITION);
    const same = await bed.daemon.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig('twice', bed.busybox.reference, ['sleep', '1000']) });
    expect(same.container_id).toBe(id);
    const clash = await grpcFailure(bed.daemon.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig('twice', bed.busybox.reference, ['sleep', '999']) }));
    expect(clash.code).toBe(GrpcStatus.ALREADY_EXISTS);
    expect(clash.details).toContain(id);
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });
});
