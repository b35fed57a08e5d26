import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerConfig, podConfig, runContainer, usePodTestBed, waitExited } from '../fixtures/pods.js';
import { rejectionOf } from '../fixtures/rejection.js';

const BERTHCTL = fileURLToPath(new URL('../../dist/daemon/cli/berthctl.js', import.meta.url));

/** The ids a runtime binary lists under berth's runtime root of a namespace. */
async function runtimeList(binary: string, root: string): Promise<string[]> {
  const { stdout } = await execa(binary, ['--root', root, 'list', '--quiet'], { reject: false });
  return stdout.split('\n').filter((l) => l.trim() !== '');
}

/**
 * crun refuses a hybrid cgroup host (v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified) while any
 * controller sits on the cgroup2 side; systemd hosts bind every controller to v1, this test machine leaves
 * hugetlb on cgroup2. Binds such controllers to v1 as systemd would; returns the mount points to undo.
 */
async function bindUnifiedControllersToV1(): Promise<string[]> {
  const controllers = (await readFile('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').catch(() => '')).split(/\s+/).filter(Boolean);
  const mounted: string[] = [];
  for (const controller of controllers) {
    const target = join('/sys/fs/cgroup', controller);
    await mkdir(target, { recursive: true });
    await execa('mount', ['-t', 'cgroup', '-o', controller, 'cgroup', target]);
    mounted.push(target);
  }
  return mounted;
}

/** RuntimeClass: [cri.runtimes.crun] runs a pod's containers with Debian's crun; unknown handlers are refused. */
describe('runtime handlers', () => {
  let boundControllers: string[] = [];
  // Registered first so that the controllers are bound before berthd starts and unbound after it stops.
  beforeAll(async () => {
    boundControllers = await bindUnifiedControllersToV1();
  });
  afterAll(async () => {
    for (const target of boundControllers) {
      await execa('umount', [target]);
      await rmdir(target);
    }
  });
  const bed = usePodTestBed({ berthd: { config: { cri: { runtimes: { runc: { path: 'runc', args: [] }, crun: { path: 'crun', args: [] }, gone: { path: '/nonexistent/gone-runc', args: [] } } } } } });

  afterAll(async () => {
    if (bed.daemon !== undefined) await execa(process.execPath, [BERTHCTL, '--address', bed.daemon.socket, '-n', 'moby', 'rm', 'c1'], { reject: false });
  });

  it('lists the configured handlers in Status', async () => {
    const { runtime_handlers } = await bed.daemon.runtime.Status({ verbose: false });
    expect(runtime_handlers.map((h) => h.name)).toEqual(['', 'runc', 'crun', 'gone']);
  });

  it('runs a RuntimeClass crun pod with crun and reports the handler', async () => {
    const pod = podConfig('crun');
    const { pod_sandbox_id: podId } = await bed.daemon.runtime.RunPodSandbox({ config: pod, runtime_handler: 'crun' });
    expect((await bed.daemon.runtime.PodSandboxStatus({ pod_sandbox_id: podId, verbose: false })).status?.runtime_handler).toBe('crun');
    expect((await bed.daemon.runtime.ListPodSandbox({})).items.find((p) => p.id === podId)?.runtime_handler).toBe('crun');
    const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('hello', bed.busybox.reference, ['sh', '-c', 'echo from-crun; sleep 1000']));
    const root = join(bed.daemon.state, 'runc', 'k8s.io');
    // crun keeps the container in its own state format; runc does not know it.
    expect(await runtimeList('crun', root)).toContain(id);
    expect(await runtimeList('runc', root)).not.toContain(id);
    const exec = await bed.daemon.runtime.ExecSync({ container_id: id, cmd: ['echo', 'exec-ok'], timeout: 10 });
    expect(Buffer.from(exec.stdout).toString()).toBe('exec-ok\n');
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 0 });
    expect((await waitExited(bed.daemon.runtime, id)).exit_code).toBe(137);
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: podId });
    expect(await runtimeList('crun', root)).not.toContain(id);
  });

  it('runs a berthctl container with --runtime crun', async () => {
    const run = await execa(process.execPath, [BERTHCTL, '--address', bed.daemon.socket, '-n', 'moby', 'run', '--pull', '--runtime', 'crun', bed.busybox.reference, 'c1', 'sleep', '1000']);
    const id = run.stdout.trim();
    expect(await runtimeList('crun', join(bed.daemon.state, 'runc', 'moby'))).toContain(id);
    const ls = await execa(process.execPath, [BERTHCTL, '--address', bed.daemon.socket, '-n', 'moby', '--json', 'containers', 'ls']);
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ name: 'c1', runtime_handler: 'crun', state: 'CONTAINER_RUNNING' })]);
  });

  it('refuses an unknown handler with InvalidArgument naming the configured ones', async () => {
    const err = (await rejectionOf(bed.daemon.runtime.RunPodSandbox({ config: podConfig('nope'), runtime_handler: 'kata' }))) as ServiceError;
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.details).toBe('runtime handler "kata" is not configured; use "" or one of "runc", "crun", "gone" ([cri.runtimes] in berth\'s config)');
    expect((await bed.daemon.runtime.ListPodSandbox({})).items.filter((p) => p.metadata?.name === 'nope')).toEqual([]);
  });

  it('refuses a handler whose runtime binary is missing with FailedPrecondition naming the config key', async () => {
    const err = (await rejectionOf(bed.daemon.runtime.RunPodSandbox({ config: podConfig('gone'), runtime_handler: 'gone' }))) as ServiceError;
    expect(err.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(err.details).toContain('/nonexistent/gone-runc does not exist or is not executable');
    expect(err.details).toContain('[cri.runtimes.gone] path');
    expect((await bed.daemon.runtime.ListPodSandbox({})).items.filter((p) => p.metadata?.name === 'gone')).toEqual([]);
  });
});
