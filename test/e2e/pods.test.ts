import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { busyboxImage, pushImage } from '../fixtures/images.js';
import { cleanupPods, containerConfig, E2E_SUBNET, podConfig, runContainer, usePodTestBed, waitFor, writeE2eCniConfig } from '../fixtures/pods.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { startBerthd } from '../harness/berthd.js';
import { mountsUnder } from '../harness/network.js';

const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;

/**
 * Pod sandboxes through berthd's socket on real runc, overlayfs and the CNI bridge plugin: addresses, pod to pod
 * traffic, host network, shared PID namespaces, stop/remove, name reservation, and the error codes kubelet sees.
 */
describe('CRI pod sandboxes', () => {
  const bed = usePodTestBed({
    berthd: async (registry) => {
      const pause = await pushImage({ url: registry.url }, 'e2e/pause', '1', await busyboxImage({ config: { Entrypoint: ['sleep', '2147483647'] } }));
      return { config: { cri: { sandbox_image: pause.reference, runtimes: { 'runc-abs': { path: '/usr/sbin/runc', args: [] } } } } };
    },
  });

  it('runs a pod with an address from the CNI network and reports it in status and list', async () => {
    const config = podConfig('addr');
    const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const { status, info } = await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: true });
    expect(status?.state).toBe('SANDBOX_READY');
    expect(status?.network?.ip).toMatch(/^10\.252\.0\.\d+$/);
    expect(status?.linux?.namespaces?.options?.network).toBe('POD');
    expect(BigInt(status!.created_at)).toBeGreaterThan(BigInt(Date.now() - 60_000) * 1_000_000n);
    const verbose = JSON.parse(info['info']!);
    expect(existsSync(verbose.netNamespace)).toBe(true);

    const byPrefix = await bed.daemon.runtime.ListPodSandbox({ filter: { id: id.slice(0, 12) } });
    expect(byPrefix.items.map((p) => p.id)).toEqual([id]);
    const byLabel = await bed.daemon.runtime.ListPodSandbox({ filter: { label_selector: { pod: 'addr' } } });
    expect(byLabel.items.map((p) => p.id)).toEqual([id]);
    const streamed: string[] = [];
    for await (const page of bed.daemon.runtime.StreamPodSandboxes({ filter: { label_selector: { pod: 'addr' } } })) {
      streamed.push(...(page as { pod_sandboxes: { id: string }[] }).pod_sandboxes.map((p) => p.id));
    }
    expect(streamed).toEqual([id]);
    const notReady = await bed.daemon.runtime.ListPodSandbox({ filter: { state: { state: 'SANDBOX_NOTREADY' } } });
    expect(notReady.items.map((p) => p.id)).not.toContain(id);

    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: id });
    const stopped = await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id, verbose: false });
    expect(stopped.status?.state).toBe('SANDBOX_NOTREADY');
    expect(stopped.status?.network?.ip).toBe('');
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: id });
    const late = await grpcFailure(bed.daemon.runtime.CreateContainer({ pod_sandbox_id: id, config: containerConfig('late', bed.busybox.reference, ['true']) }));
    expect(late.code).toBe(GrpcStatus.FAILED_PRECONDITION);

    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
    expect(existsSync(verbose.netNamespace)).toBe(false);
    expect((await grpcFailure(bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id }))).code).toBe(GrpcStatus.NOT_FOUND);
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
  });

  it('lets one pod reach another over the bridge', async () => {
    const a = podConfig('ping-a');
    const b = podConfig('ping-b');
    const [{ pod_sandbox_id: idA }, { pod_sandbox_id: idB }] = await Promise.all([
      bed.daemon.runtime.RunPodSandbox({ config: a }),
      bed.daemon.runtime.RunPodSandbox({ config: b }),
    ]);
    const ipA = (await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: idA })).status!.network!.ip;
    expect(ipA.startsWith(E2E_SUBNET.slice(0, 8))).toBe(true);
    await runContainer(bed.daemon.runtime, idA, a, containerConfig('server', bed.busybox.reference, ['sh', '-c', 'nc -l -p 8080 -e echo hello-from-a; sleep 1000']));
    const client = await runContainer(bed.daemon.runtime, idB, b, containerConfig('client', bed.busybox.reference, ['sleep', '1000']));
    const ping = await bed.daemon.runtime.ExecSync({ container_id: client, cmd: ['ping', '-c1', '-W2', ipA], timeout: 10 });
    expect(ping.exit_code, ping.stdout.toString() + ping.stderr.toString()).toBe(0);
    const nc = await bed.daemon.runtime.ExecSync({ container_id: client, cmd: ['sh', '-c', `nc -w 2 ${ipA} 8080 </dev/null`], timeout: 10 });
    expect(nc.stdout.toString()).toContain('hello-from-a');
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: idA });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: idB });
  });

  it('runs a host-network pod without CNI, in the node network namespace', async () => {
    const config = podConfig('hostnet', {
      hostname: '',
      linux: { cgroup_parent: '/berth-e2e', security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    });
    const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config });
    const { status } = await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id });
    expect(status?.network?.ip).toBe('');
    expect(status?.linux?.namespaces?.options?.network).toBe('NODE');
    const c = await runContainer(
      bed.daemon.runtime,
      id,
      config,
      containerConfig('h', bed.busybox.reference, ['sleep', '1000'], { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } } }),
    );
    const out = await bed.daemon.runtime.ExecSync({ container_id: c, cmd: ['sh', '-c', 'hostname; cat /proc/net/dev'], timeout: 10 });
    expect(out.stdout.toString()).toContain(hostname());
    expect(out.stdout.toString()).toContain('berthe2e0');
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
  });

  it('shares one PID namespace among the containers of a pid=POD pod', async () => {
    const config = podConfig('sharedpid', {
      linux: { cgroup_parent: '/berth-e2e', security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    });
    const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config });
    const shared = { linux: { security_context: { namespace_options: { network: 'POD' as const, pid: 'POD' as const, ipc: 'POD' as const } } } };
    await runContainer(bed.daemon.runtime, id, config, containerConfig('one', bed.busybox.reference, ['sleep', '1111'], shared));
    const two = await runContainer(bed.daemon.runtime, id, config, containerConfig('two', bed.busybox.reference, ['sleep', '2222'], shared));
    const { containers_statuses } = await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id });
    expect(containers_statuses.map((c) => c.metadata?.name).sort()).toEqual(['one', 'two']);
    const ps = await bed.daemon.runtime.ExecSync({ container_id: two, cmd: ['ps'], timeout: 10 });
    expect(ps.stdout.toString()).toContain('sleep 1111');
    expect(ps.stdout.toString()).toContain('sleep 2147483647');
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
  });

  it('shares one PID namespace in a pod and containers that give no namespace options (the CRI default is POD)', async () => {
    const config = podConfig('defaultpid', { linux: { cgroup_parent: '/berth-e2e' } });
    const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config });
    const { status } = await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id });
    expect(status?.linux?.namespaces?.options).toMatchObject({ network: 'POD', pid: 'POD', ipc: 'POD' });
    await runContainer(bed.daemon.runtime, id, config, containerConfig('one', bed.busybox.reference, ['sleep', '1111'], { linux: {} }));
    const two = await runContainer(bed.daemon.runtime, id, config, containerConfig('two', bed.busybox.reference, ['sleep', '2222'], { linux: {} }));
    const ps = (await bed.daemon.runtime.ExecSync({ container_id: two, cmd: ['ps'], timeout: 10 })).stdout.toString();
    expect(ps).toContain('sleep 1111');
    expect(ps).toContain('sleep 2147483647');
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
  });

  it('marks a shared-PID pod not ready when its infra container dies, and logs no warning when a stop kills it', async () => {
    const sharedPod = (name: string) => podConfig(name, {
      linux: { cgroup_parent: '/berth-e2e', security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
    });
    const infraExit = (id: string) => bed.daemon.logs().split('\n').filter((l) => l.includes(id) && l.includes('infra container of a shared-PID pod exited'));
    const { pod_sandbox_id: stopped } = await bed.daemon.runtime.RunPodSandbox({ config: sharedPod('infra-stopped') });
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: stopped });
    // The exit event may come after StopPodSandbox answers.
    await new Promise((r) => setTimeout(r, 300));
    expect(infraExit(stopped)).toEqual([]);

    const { pod_sandbox_id: killed } = await bed.daemon.runtime.RunPodSandbox({ config: sharedPod('infra-killed') });
    const { info } = await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: killed, verbose: true });
    process.kill(JSON.parse(info['info']!).pid as number, 'SIGKILL');
    await waitFor('the pod to be not ready', async () => ((await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: killed })).status?.state === 'SANDBOX_NOTREADY' ? true : undefined));
    expect(infraExit(killed)).toHaveLength(1);
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: stopped });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: killed });
  });

  it('applies pod sysctls in the pod namespaces and runs pods under another configured runtime handler', async () => {
    const config = podConfig('sysctl', {
      linux: {
        cgroup_parent: '/berth-e2e',
        sysctls: { 'net.ipv4.ip_unprivileged_port_start': '80', 'kernel.shm_rmid_forced': '1' },
        security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
      },
    });
    const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config, runtime_handler: 'runc-abs' });
    expect((await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status?.runtime_handler).toBe('runc-abs');
    const c = await runContainer(bed.daemon.runtime, id, config, containerConfig('s', bed.busybox.reference, ['sleep', '1000']));
    const out = await bed.daemon.runtime.ExecSync({
      container_id: c,
      cmd: ['cat', '/proc/sys/net/ipv4/ip_unprivileged_port_start', '/proc/sys/kernel/shm_rmid_forced'],
      timeout: 10,
    });
    expect(out.stdout.toString().split('\n')).toEqual(['80', '1', '']);
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id });
  });

  it('starts and removes pods in parallel, each with its own address', async () => {
    const configs = Array.from({ length: 8 }, (_, i) => podConfig(`par-${i}`));
    const ids = await Promise.all(
      configs.map(async (config) => {
        const { pod_sandbox_id: id } = await bed.daemon.runtime.RunPodSandbox({ config });
        await runContainer(bed.daemon.runtime, id, config, containerConfig('c', bed.busybox.reference, ['sleep', '1000']));
        return id;
      }),
    );
    const ips = await Promise.all(ids.map(async (id) => (await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: id })).status!.network!.ip));
    expect(new Set(ips).size).toBe(8);
    const running = await bed.daemon.runtime.ListContainers({ filter: { state: { state: 'CONTAINER_RUNNING' } } });
    expect(running.containers).toHaveLength(8);
    await Promise.all(ids.map((id) => bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: id })));
    expect((await bed.daemon.runtime.ListContainers({})).containers).toEqual([]);
  });

  it('returns the same id for a retried RunPodSandbox and AlreadyExists for another config under the name', async () => {
    const config = podConfig('retry');
    const [first, second] = await Promise.all([bed.daemon.runtime.RunPodSandbox({ config }), bed.daemon.runtime.RunPodSandbox({ config })]);
    expect(second.pod_sandbox_id).toBe(first.pod_sandbox_id);
    const clash = await grpcFailure(bed.daemon.runtime.RunPodSandbox({ config: { ...config, hostname: 'other' } }));
    expect(clash.code).toBe(GrpcStatus.ALREADY_EXISTS);
    expect(clash.details).toContain(first.pod_sandbox_id);
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: first.pod_sandbox_id });
  });

  it('undoes everything of a RunPodSandbox that fails part-way (infra image missing)', async () => {
    const broken = await startBerthd({ config: { cri: { sandbox_image: `${bed.registry.host}/e2e/missing:1` } } });
    try {
      await writeE2eCniConfig(broken);
      const config = podConfig('broken', {
        linux: { cgroup_parent: '/berth-e2e', security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
      });
      const failure = await grpcFailure(broken.runtime.RunPodSandbox({ config }));
      expect(failure.code).toBe(GrpcStatus.NOT_FOUND);
      expect((await broken.runtime.ListPodSandbox({})).items).toEqual([]);
      expect(await readdir(join(broken.state, 'k8s.io'))).toEqual([]);
      expect(await readdir(join(broken.state, 'netns'))).toEqual([]);
      expect((await mountsUnder(broken.dir)).filter((m) => !m.endsWith('/netns') && !m.endsWith('/ns'))).toEqual([]);
      const ipam = await readdir(join(broken.dir, 'cni/ipam/berthe2e')).catch(() => [] as string[]);
      expect(ipam.filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))).toEqual([]);
    } finally {
      await cleanupPods(broken);
      await broken.cleanup();
    }
  });

  it('answers bad requests with the codes kubelet expects', async () => {
    const handler = await grpcFailure(bed.daemon.runtime.RunPodSandbox({ config: podConfig('h'), runtime_handler: 'nope' }));
    expect(handler.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(handler.details).toContain('"runc"');
    expect(handler.details).toContain('"runc-abs"');
    expect((await grpcFailure(bed.daemon.runtime.RunPodSandbox({ config: { hostname: 'x' } }))).code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await grpcFailure(bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: 'f'.repeat(64) }))).code).toBe(GrpcStatus.NOT_FOUND);
    const mismatch = await grpcFailure(bed.daemon.runtime.RunPodSandbox({ config: podConfig('slice', { linux: { cgroup_parent: 'kubepods.slice' } }) }));
    expect(mismatch.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(mismatch.details).toContain('cgroup_driver = "systemd"');
    await bed.daemon.runtime.StopPodSandbox({ pod_sandbox_id: 'f'.repeat(64) });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: 'f'.repeat(64) });
    expect((await bed.daemon.runtime.ListPodSandbox({})).items).toEqual([]);
  });
});
