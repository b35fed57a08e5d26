import { readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LinuxContainerSecurityContext } from '../../proto/gen/runtime/v1/LinuxContainerSecurityContext.js';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { busyboxImage, pushImage } from '../fixtures/images.js';
import { containerConfig, E2E_CGROUP_PARENT, podConfig, runContainer, usePodTestBed } from '../fixtures/pods.js';
import { rejectionOf } from '../fixtures/rejection.js';

const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;
const OWN_PID = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const;

/**
 * The container security context on real runc, as the CRI validation suite (critest's "Security Context" specs)
 * checks it: user, group and supplementary groups (with the groups the image's /etc/group gives the user), the
 * runAsGroup-without-runAsUser rejection, no_new_privs, masked and read-only paths, Localhost seccomp profiles
 * (ignored for privileged containers) and host PID and IPC namespaces. critest is not run here; these pin what it
 * found berth doing right.
 */
describe('CRI container security context', () => {
  // Like critest's test-image-predefined-group: a user whose /etc/group membership comes from the image.
  const groups = {
    entries: [
      { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\ndefault-user:x:1000:1000::/home:/bin/sh\n' },
      { path: 'etc/group', content: 'root:x:0:\nnobody:x:65534:\ndefault-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' },
    ],
  };
  const bed = usePodTestBed({ busybox: { layers: [groups] }, tag: 'groups' });
  let pod: PodSandboxConfig;
  let podId: string;

  const run = (name: string, sc: LinuxContainerSecurityContext, command = ['sleep', '1000'], image = bed.busybox.reference): Promise<string> =>
    runContainer(bed.daemon.runtime, podId, pod, containerConfig(name, image, command, { linux: { security_context: { namespace_options: OWN_PID, ...sc } } }));
  const exec = async (id: string, cmd: string[]) => {
    const r = await bed.daemon.runtime.ExecSync({ container_id: id, cmd, timeout: 10 });
    return { code: r.exit_code, out: r.stdout.toString().trim(), err: r.stderr.toString().trim() };
  };

  beforeAll(async () => {
    pod = podConfig('security');
    podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
  });

  it('runs as the given user and group with supplementary groups, in the first process and in exec', async () => {
    const id = await run('ids', { run_as_user: { value: '1001' }, run_as_group: { value: '2002' }, supplemental_groups: ['3003'] }, ['sh', '-c', 'id -G > /tmp/first; sleep 1000']);
    expect(await exec(id, ['id', '-u'])).toMatchObject({ out: '1001' });
    expect(await exec(id, ['id', '-g'])).toMatchObject({ out: '2002' });
    expect((await exec(id, ['id', '-G'])).out.split(' ').sort()).toEqual(['2002', '3003']);
    expect((await exec(id, ['cat', '/tmp/first'])).out.split(' ').sort()).toEqual(['2002', '3003']);
    const { status } = await bed.daemon.runtime.ContainerStatus({ container_id: id });
    expect(status?.user?.linux).toMatchObject({ uid: '1001', gid: '2002' });

    // The image's /etc/group adds its groups to the user's, as containerd does (the CRI leaves it unsaid).
    const image = await run('image-groups', { run_as_user: { value: '1000' }, supplemental_groups: ['1234'] });
    expect((await exec(image, ['id', '-G'])).out.split(' ').sort()).toEqual(['1000', '1234', '50000']);
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
    await bed.daemon.runtime.RemoveContainer({ container_id: image });
  });

  it('refuses an image whose /etc/passwd is a FIFO or a device, without hanging or reading without end', async () => {
    for (const [tag, entry] of [
      ['fifo', { path: 'etc/passwd', type: 'fifo' as const }],
      ['zero', { path: 'etc/passwd', type: 'character-device' as const, devmajor: 1, devminor: 5 }],
    ] as const) {
      const hostile = await pushImage({ url: bed.registry.url }, 'e2e/hostile-passwd', tag, await busyboxImage({ layers: [{ entries: [entry] }] }));
      await bed.daemon.image.PullImage({ image: { image: hostile.reference } });
      const config = containerConfig(`hostile-${tag}`, hostile.reference, ['true'], { linux: { security_context: { namespace_options: OWN_PID, run_as_username: 'app' } } });
      const err = (await rejectionOf(bed.daemon.runtime.CreateContainer({ pod_sandbox_id: podId, config, sandbox_config: pod }))) as ServiceError;
      expect(err.code, err.details).toBe(GrpcStatus.FAILED_PRECONDITION);
      expect(err.details).toMatch(/etc\/passwd .*not a regular file/);
    }
    // The daemon still answers, and nothing of the refused creates is left.
    expect((await bed.daemon.runtime.ListContainers({})).containers.filter((c) => c.metadata?.name.startsWith('hostile-'))).toEqual([]);
  });

  it('rejects runAsGroup without runAsUser or a user name with InvalidArgument', async () => {
    const err = await grpcFailure(bed.daemon.runtime.CreateContainer({
      pod_sandbox_id: podId,
      sandbox_config: pod,
      config: containerConfig('group-only', bed.busybox.reference, ['true'], { linux: { security_context: { namespace_options: OWN_PID, run_as_group: { value: '2002' } } } }),
    }));
    expect(err.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(err.details).toMatch(/runAsGroup.*runAsUser/);
  });

  it('sets no_new_privs only when asked', async () => {
    const on = await run('nnp-on', { no_new_privs: true });
    const off = await run('nnp-off', {});
    expect((await exec(on, ['grep', 'NoNewPrivs', '/proc/self/status'])).out).toMatch(/NoNewPrivs:\s+1/);
    expect((await exec(off, ['grep', 'NoNewPrivs', '/proc/self/status'])).out).toMatch(/NoNewPrivs:\s+0/);
    await bed.daemon.runtime.RemoveContainer({ container_id: on });
    await bed.daemon.runtime.RemoveContainer({ container_id: off });
  });

  it('masks and write-protects the default paths, or the ones the request lists instead', async () => {
    const defaults = await run('paths-default', {});
    // /proc/keys rather than /proc/kcore, which kernels without CONFIG_PROC_KCORE lack.
    expect(await exec(defaults, ['cat', '/proc/keys'])).toMatchObject({ code: 0, out: '' });
    expect((await exec(defaults, ['sh', '-c', 'echo 1 > /proc/sys/kernel/domainname'])).err).toMatch(/Read-only file system/);

    const listed = await run('paths-listed', { masked_paths: ['/etc/passwd'], readonly_paths: ['/tmp'] });
    expect(await exec(listed, ['cat', '/etc/passwd'])).toMatchObject({ code: 0, out: '' });
    const touch = await exec(listed, ['touch', '/tmp/x']);
    expect(touch.code).not.toBe(0);
    expect(touch.err).toMatch(/Read-only file system/);
    await bed.daemon.runtime.RemoveContainer({ container_id: defaults });
    await bed.daemon.runtime.RemoveContainer({ container_id: listed });
  });

  it('applies a Localhost seccomp profile, and ignores it for a privileged container', async () => {
    const profile = join(bed.daemon.dir, 'no-sethostname.json');
    await writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['sethostname'], action: 'SCMP_ACT_ERRNO' }] }));
    const sysAdmin = { capabilities: { add_capabilities: ['SYS_ADMIN'] } };
    const blocked = await run('seccomp-localhost', { ...sysAdmin, seccomp: { profile_type: 'Localhost', localhost_ref: profile } });
    const setName = ['hostname', 'renamed'];
    const denied = await exec(blocked, setName);
    expect(denied.code).not.toBe(0);
    expect(denied.err).toMatch(/not permitted/);
    const free = await run('seccomp-unconfined', { ...sysAdmin, seccomp: { profile_type: 'Unconfined' } });
    expect(await exec(free, setName)).toMatchObject({ code: 0 });

    const privileged = { privileged: true, namespace_options: OWN_PID };
    const privPod = podConfig('seccomp-privileged', { linux: { cgroup_parent: E2E_CGROUP_PARENT, security_context: privileged } });
    const { pod_sandbox_id: privPodId } = await bed.daemon.runtime.RunPodSandbox({ config: privPod });
    const priv = await runContainer(bed.daemon.runtime, privPodId, privPod, containerConfig('priv', bed.busybox.reference, ['sleep', '1000'], {
      linux: { security_context: { ...privileged, seccomp: { profile_type: 'Localhost', localhost_ref: profile } } },
    }));
    expect(await exec(priv, setName)).toMatchObject({ code: 0 });
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: privPodId });
    await bed.daemon.runtime.RemoveContainer({ container_id: blocked });
    await bed.daemon.runtime.RemoveContainer({ container_id: free });
  });

  it('runs in the node PID and IPC namespaces when the pod asks for them', async () => {
    const host = { network: 'POD', pid: 'NODE', ipc: 'NODE' } as const;
    const hostPod = podConfig('host-pid-ipc', { linux: { cgroup_parent: E2E_CGROUP_PARENT, security_context: { namespace_options: host } } });
    const { pod_sandbox_id: hostPodId } = await bed.daemon.runtime.RunPodSandbox({ config: hostPod });
    const id = await runContainer(bed.daemon.runtime, hostPodId, hostPod, containerConfig('host-ns', bed.busybox.reference, ['sleep', '1000'], {
      linux: { security_context: { namespace_options: host } },
    }));
    const inContainer = (await exec(id, ['sh', '-c', 'readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc'])).out.split('\n');
    expect(inContainer).toEqual([await readlink('/proc/self/ns/pid'), await readlink('/proc/self/ns/ipc')]);
    // Our own pid is visible from inside.
    expect(await exec(id, ['test', '-d', `/proc/${process.pid}`])).toMatchObject({ code: 0 });

    const own = await run('own-ns', {});
    const isolated = (await exec(own, ['sh', '-c', 'readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc'])).out.split('\n');
    expect(isolated[0]).not.toBe(await readlink('/proc/self/ns/pid'));
    expect(isolated[1]).not.toBe(await readlink('/proc/self/ns/ipc'));
    await bed.daemon.runtime.RemovePodSandbox({ pod_sandbox_id: hostPodId });
    await bed.daemon.runtime.RemoveContainer({ container_id: own });
  });
});
