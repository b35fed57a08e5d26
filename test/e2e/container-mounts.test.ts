import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MountPropagation__Output as MountPropagation } from '../../proto/gen/runtime/v1/MountPropagation.js';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { containerConfig, E2E_CGROUP_PARENT, podConfig, runContainer, usePodTestBed } from '../fixtures/pods.js';

const PRIVILEGED = { privileged: true, namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } as const;

/**
 * What a container sees mounted, on real runc, as the CRI validation suite (critest's "Mount Propagation",
 * "adding volume" and "Networking" specs) checks it: host path volumes (a symlinked host path too), the three
 * propagation modes in both directions, and the pod's hostname and DNS config in /etc/hostname and
 * /etc/resolv.conf. critest is not run here; these pin what it found berth doing right.
 */
describe('CRI container mounts', () => {
  // Registered first so that it runs last, after the pods that mount from hostDir are gone.
  beforeAll(async () => {
    hostDir = await mkdtemp('/var/tmp/berth-e2e-mounts-');
  });
  afterAll(async () => {
    if (hostDir !== undefined) {
      await execa('umount', ['--recursive', '--lazy', join(hostDir, 'mnt')], { reject: false });
      await rm(hostDir, { recursive: true, force: true });
    }
  });
  const bed = usePodTestBed();
  let pod: PodSandboxConfig;
  let podId: string;
  let hostDir: string;

  const exec = async (id: string, cmd: string[]) => {
    const r = await bed.daemon.runtime.ExecSync({ container_id: id, cmd, timeout: 10 });
    return { code: r.exit_code, out: r.stdout.toString().trim(), err: r.stderr.toString().trim() };
  };

  beforeAll(async () => {
    pod = podConfig('mounts', {
      linux: { cgroup_parent: E2E_CGROUP_PARENT, security_context: PRIVILEGED },
      dns_config: { servers: ['10.10.10.10'], searches: ['example.test'], options: ['timeout:5'] },
    });
    podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
  });

  it("gives the pod's hostname and DNS config to its containers", async () => {
    const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('dns', bed.busybox.reference, ['sleep', '1000'], { linux: { security_context: PRIVILEGED } }));
    expect(await exec(id, ['hostname'])).toMatchObject({ out: 'mounts' });
    expect(await exec(id, ['cat', '/etc/hostname'])).toMatchObject({ out: 'mounts' });
    const resolv = (await exec(id, ['cat', '/etc/resolv.conf'])).out.split('\n');
    expect(resolv).toEqual(expect.arrayContaining(['nameserver 10.10.10.10', 'search example.test', 'options timeout:5']));
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('mounts a host path volume through a symlink to it', async () => {
    const target = join(hostDir, 'volume');
    await mkdir(target);
    await writeFile(join(target, 'file'), 'from the host\n');
    const link = join(hostDir, 'volume-link');
    await symlink(target, link);
    const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('symlinked', bed.busybox.reference, ['sleep', '1000'], {
      linux: { security_context: PRIVILEGED },
      mounts: [{ host_path: link, container_path: '/data' }],
    }));
    expect(await exec(id, ['cat', '/data/file'])).toMatchObject({ code: 0, out: 'from the host' });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  // Each mode on a fresh host mount: the host bind-mounts a directory under the volume after the container
  // started, then the container bind-mounts its /etc under the volume; who sees which depends on the mode.
  const cases: [MountPropagation, string, { hostToContainer: boolean; containerToHost: boolean }][] = [
    ['PROPAGATION_PRIVATE', '--make-rprivate', { hostToContainer: false, containerToHost: false }],
    ['PROPAGATION_HOST_TO_CONTAINER', '--make-rshared', { hostToContainer: true, containerToHost: false }],
    ['PROPAGATION_BIDIRECTIONAL', '--make-rshared', { hostToContainer: true, containerToHost: true }],
  ];
  it.each(cases)('propagates mounts under a %s volume as the mode says', async (propagation, hostMode, expected) => {
    const source = join(hostDir, 'mnt');
    const hostMountPoint = join(source, 'from-host');
    const flags = join(hostDir, `flags-${propagation}`);
    await mkdir(hostMountPoint, { recursive: true });
    await mkdir(flags);
    await writeFile(join(flags, 'flagFile'), '');
    await execa('mount', ['--rbind', source, source]);
    await execa('mount', [hostMode, source]);
    try {
      const id = await runContainer(bed.daemon.runtime, podId, pod, containerConfig(`propagation-${propagation.toLowerCase()}`, bed.busybox.reference, ['sleep', '1000'], {
        linux: { security_context: PRIVILEGED },
        mounts: [{ host_path: source, container_path: source, propagation }],
      }));
      const { status } = await bed.daemon.runtime.ContainerStatus({ container_id: id });
      expect(status?.mounts).toEqual([expect.objectContaining({ host_path: source, container_path: source, readonly: false, propagation })]);

      await execa('mount', ['--bind', flags, hostMountPoint]);
      expect((await exec(id, ['ls', '-A', hostMountPoint])).out).toBe(expected.hostToContainer ? 'flagFile' : '');

      const containerMountPoint = join(source, 'from-container');
      expect(await exec(id, ['sh', '-c', `mkdir -p ${containerMountPoint} && mount --bind /etc ${containerMountPoint}`])).toMatchObject({ code: 0 });
      expect((await readdir(containerMountPoint)).length > 0).toBe(expected.containerToHost);
      await bed.daemon.runtime.RemoveContainer({ container_id: id });
    } finally {
      await execa('umount', ['--recursive', '--lazy', source]);
      await rm(source, { recursive: true, force: true });
    }
  });
});
