import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContainerSpec, type ContainerSpecInput } from './container-spec.js';
import { buildSandboxSpec } from './sandbox-spec.js';
import { processArgs, processEnv } from './process.js';
import { resolveUser, parsePasswd, parseGroup, resolveUserInRootfs } from './user.js';
import { cgroupsPath } from './cgroups-path.js';
import { capabilitySets, capabilitiesInMask, DEFAULT_CAPABILITIES, ALL_CAPABILITIES } from './capabilities.js';
import { linuxResources } from './resources.js';
import { seccompFor } from './seccomp.js';
import { isBerthError, type BerthError } from '../../errors/errors.js';
import type { NamespaceMode } from './cri-input.js';

let rootfs: string;
const passwd = 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n';
const group = 'root:x:0:\nwww:x:33:\nalice:x:1000:\nvideo:x:44:alice,bob\naudio:x:29:bob\n';

beforeAll(async () => {
  rootfs = await mkdtemp(path.join(os.tmpdir(), 'berth-spec-'));
  await mkdir(path.join(rootfs, 'etc'));
  await writeFile(path.join(rootfs, 'etc/passwd'), passwd);
  await writeFile(path.join(rootfs, 'etc/group'), group);
});
afterAll(async () => rm(rootfs, { recursive: true, force: true }));

function input(over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    id: 'c1',
    sandboxId: 's1',
    config: { metadata: { name: 'app' }, image: { image: 'busybox' } },
    sandboxConfig: { metadata: { name: 'pod', uid: 'u1', namespace: 'default' }, hostname: 'pod-host', linux: { cgroup_parent: '/kubepods/pod1' } },
    image: { name: 'busybox:latest', config: { Cmd: ['sh'], Env: ['PATH=/bin', 'A=image'] } },
    rootfs,
    sandboxFiles: { hosts: '/s/hosts', resolvConf: '/s/resolv.conf', hostname: '/s/hostname', shm: '/s/shm' },
    podNamespaces: { network: '/run/netns/n', ipc: '/run/ipc/n', uts: '/run/uts/n' },
    host: { cgroupDriver: 'cgroupfs', cgroupV2: false, minOomScoreAdj: 0, capabilities: ALL_CAPABILITIES },
    ...over,
  };
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return isBerthError(err) ? err.kind : 'other';
  }
  return undefined;
};

describe('process args (Kubernetes command/args rules)', () => {
  const image = { Entrypoint: ['/entry'], Cmd: ['default'] };
  it('uses the image entrypoint and cmd by default', () => expect(processArgs({ command: [], args: [] }, image, 'x')).toEqual(['/entry', 'default']));
  it('args replace cmd only', () => expect(processArgs({ command: [], args: ['a'] }, image, 'x')).toEqual(['/entry', 'a']));
  it('command replaces entrypoint and drops cmd', () => expect(processArgs({ command: ['/c'], args: [] }, image, 'x')).toEqual(['/c']));
  it('command and args', () => expect(processArgs({ command: ['/c'], args: ['a'] }, image, 'x')).toEqual(['/c', 'a']));
  it('nothing at all is InvalidArgument', () => expect(code(() => processArgs({ command: [], args: [] }, {}, 'x'))).toBe('InvalidArgument'));
});

describe('env', () => {
  it('CRI envs override image env in place, PATH defaulted', () => {
    expect(processEnv(['A=1', 'B=2'], [{ key: 'A', value: Buffer.from('x') }, { key: 'C', value: Buffer.from('3') }], [])).toEqual([
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'A=x', 'B=2', 'C=3',
    ]);
    expect(processEnv(['PATH=/bin'], [], [])[0]).toBe('PATH=/bin');
  });
});

describe('user resolution', () => {
  const p = parsePasswd(passwd);
  const g = parseGroup(group);
  it('by name: uid, primary gid, member groups', () =>
    expect(resolveUser({ runAsUsername: 'alice', supplementalGroups: [5] }, p, g, 'img')).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 44, 5], home: '/home/alice' }));
  it('by uid with explicit group', () => expect(resolveUser({ runAsUser: 33, runAsGroup: 7, supplementalGroups: [] }, p, g, 'img')).toMatchObject({ uid: 33, gid: 7 }));
  it('unknown uid gets gid 0', () => expect(resolveUser({ runAsUser: 4242, supplementalGroups: [] }, p, g, 'img')).toMatchObject({ uid: 4242, gid: 0 }));
  it('image user name:group', () => expect(resolveUser({ imageUser: 'www:video', supplementalGroups: [] }, p, g, 'img')).toMatchObject({ uid: 33, gid: 44 }));
  it('image user uid:gid', () => expect(resolveUser({ imageUser: '5:6', supplementalGroups: [] }, p, g, 'img')).toMatchObject({ uid: 5, gid: 6 }));
  it('unknown names are InvalidArgument', () => {
    expect(code(() => resolveUser({ runAsUsername: 'nobody', supplementalGroups: [] }, p, g, 'img'))).toBe('InvalidArgument');
    expect(code(() => resolveUser({ imageUser: 'www:nogroup', supplementalGroups: [] }, p, g, 'img'))).toBe('InvalidArgument');
  });
  it('resolves /etc/passwd inside the rootfs: absolute and .. symlinks never reach the host', async () => {
    const r = await mkdtemp(path.join(os.tmpdir(), 'berth-spec-'));
    await mkdir(path.join(r, 'etc'));
    await mkdir(path.join(r, 'usr/lib'), { recursive: true });
    await writeFile(path.join(r, 'usr/lib/passwd'), 'app:x:4242:4242::/app:/bin/sh\n');
    await symlink('/usr/lib/passwd', path.join(r, 'etc/passwd'));
    await symlink('../../../../../../etc/shadow', path.join(r, 'etc/group'));
    expect(await resolveUserInRootfs({ runAsUsername: 'app', supplementalGroups: [] }, r, 'img')).toMatchObject({ uid: 4242, gid: 4242 });
    // The host's /etc/shadow exists; the image's does not: the group file is absent, not the host's.
    expect(await resolveUserInRootfs({ imageUser: 'app:shadow', supplementalGroups: [] }, r, 'img').catch((e: unknown) => (e as BerthError).message)).toMatch(/does not define/);
    await rm(r, { recursive: true });
  });
  it('refuses an /etc/passwd that is a FIFO or a device instead of blocking or reading without end', async () => {
    const r = await mkdtemp(path.join(os.tmpdir(), 'berth-spec-'));
    await mkdir(path.join(r, 'etc'));
    execFileSync('mkfifo', [path.join(r, 'etc/passwd')]);
    await expect(resolveUserInRootfs({ runAsUsername: 'app', supplementalGroups: [] }, r, 'img')).rejects.toMatchObject({ kind: 'FailedPrecondition', message: expect.stringMatching(/etc\/passwd .*not a regular file/) });
    await rm(path.join(r, 'etc/passwd'));
    execFileSync('mknod', [path.join(r, 'etc/passwd'), 'c', '1', '5']); // /dev/zero
    await expect(resolveUserInRootfs({ runAsUsername: 'app', supplementalGroups: [] }, r, 'img')).rejects.toMatchObject({ kind: 'FailedPrecondition' });
    await rm(path.join(r, 'etc/passwd'));
    await writeFile(path.join(r, 'etc/passwd'), Buffer.alloc(2 << 20, 'x'));
    await expect(resolveUserInRootfs({ runAsUsername: 'app', supplementalGroups: [] }, r, 'img')).rejects.toMatchObject({ kind: 'ResourceExhausted' });
    await rm(r, { recursive: true });
  });
});

describe('cgroups path', () => {
  it('cgroupfs', () => expect(cgroupsPath('cgroupfs', '/kubepods/burstable/pod1', 'abc')).toBe('/kubepods/burstable/pod1/abc'));
  it('systemd', () => expect(cgroupsPath('systemd', 'kubepods-burstable-pod1.slice', 'abc')).toBe('kubepods-burstable-pod1.slice:berth:abc'));
  it('driver mismatch is FailedPrecondition naming the setting', () => {
    expect(() => cgroupsPath('cgroupfs', 'kubepods.slice', 'a')).toThrow(/cgroup_driver = "systemd"/);
    expect(code(() => cgroupsPath('systemd', '/kubepods', 'a'))).toBe('FailedPrecondition');
  });
});

describe('capabilities', () => {
  it('defaults', () => expect(capabilitySets({ privileged: false, add: [], drop: [], ambient: [], available: ALL_CAPABILITIES }).effective.sort()).toEqual([...DEFAULT_CAPABILITIES].sort()));
  it('drop ALL add one', () => expect(capabilitySets({ privileged: false, add: ['NET_BIND_SERVICE'], drop: ['ALL'], ambient: [], available: ALL_CAPABILITIES }).effective).toEqual(['CAP_NET_BIND_SERVICE']));
  it('drop one', () => expect(capabilitySets({ privileged: false, add: [], drop: ['NET_RAW'], ambient: [], available: ALL_CAPABILITIES }).effective).not.toContain('CAP_NET_RAW'));
  it('add ALL', () => expect(capabilitySets({ privileged: false, add: ['ALL'], drop: [], ambient: [], available: ALL_CAPABILITIES }).effective).toEqual([...ALL_CAPABILITIES]));
  it('never grants more than berthd holds', () => {
    const available = capabilitiesInMask('000001fffeffffff');
    expect(available).not.toContain('CAP_SYS_RESOURCE');
    expect(capabilitySets({ privileged: true, add: [], drop: [], ambient: [], available }).effective).toEqual(available);
  });
  it('unknown is InvalidArgument', () => expect(code(() => capabilitySets({ privileged: false, add: ['NOPE'], drop: [], ambient: [], available: ALL_CAPABILITIES }))).toBe('InvalidArgument'));
});

describe('resources', () => {
  it('maps cpu, memory, hugepages; clamps oom_score_adj to our own', () => {
    const plan = linuxResources(
      { cpu_shares: '512', cpu_quota: '50000', cpu_period: '100000', memory_limit_in_bytes: '8388608', oom_score_adj: '-997', cpuset_cpus: '0', hugepage_limits: [{ page_size: '2MB', limit: '0' }] },
      { minOomScoreAdj: -500, cgroupV2: false },
    );
    expect(plan.oomScoreAdj).toBe(-500);
    expect(plan.notes[0]).toMatch(/raised to -500/);
    expect(plan.resources).toMatchObject({ cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0' }, memory: { limit: 8388608 }, hugepageLimits: [{ pageSize: '2MB', limit: 0 }] });
  });
  it('pids.max works on v1, other unified keys need v2', () => {
    expect(linuxResources({ unified: { 'pids.max': '100' } }, { minOomScoreAdj: 0, cgroupV2: false }).resources.pids).toEqual({ limit: 100 });
    expect(code(() => linuxResources({ unified: { 'memory.high': '1' } }, { minOomScoreAdj: 0, cgroupV2: false }))).toBe('InvalidArgument');
    expect(linuxResources({ unified: { 'memory.high': '1' } }, { minOomScoreAdj: 0, cgroupV2: true }).resources.unified).toEqual({ 'memory.high': '1' });
  });
});

describe('seccomp', () => {
  it('absent is unconfined, RuntimeDefault denies kernel-global calls', async () => {
    expect(await seccompFor(null, '', [])).toBeUndefined();
    const p = await seccompFor({ profile_type: 'RuntimeDefault' }, '', []);
    expect(p?.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(p?.syscalls?.[0]?.names).toContain('kexec_load');
    expect(p?.syscalls?.[0]?.names).toContain('mount');
    const admin = await seccompFor({ profile_type: 'RuntimeDefault' }, '', ['CAP_SYS_ADMIN']);
    expect(admin?.syscalls?.[0]?.names).not.toContain('mount');
  });
  it('Localhost loads JSON; a missing file is InvalidArgument', async () => {
    const f = path.join(rootfs, 'profile.json');
    await writeFile(f, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO' }));
    expect(await seccompFor({ profile_type: 'Localhost', localhost_ref: f }, '', [])).toEqual({ defaultAction: 'SCMP_ACT_ERRNO' });
    await expect(seccompFor({ profile_type: 'Localhost', localhost_ref: '/nonexistent.json' }, '', [])).rejects.toMatchObject({ kind: 'InvalidArgument' });
  });
});

describe('buildContainerSpec', () => {
  it('a default container', async () => {
    const { spec, user } = await buildContainerSpec(input());
    expect(spec.ociVersion).toBe('1.0.2');
    expect(spec.process.args).toEqual(['sh']);
    expect(spec.process.env).toContain('HOSTNAME=pod-host');
    expect(spec.process.env).toContain('A=image');
    expect(user).toMatchObject({ uid: 0, gid: 0 });
    expect(spec.hostname).toBe('pod-host');
    expect(spec.linux.cgroupsPath).toBe('/kubepods/pod1/c1');
    expect(spec.linux.namespaces).toEqual([
      { type: 'mount' }, { type: 'network', path: '/run/netns/n' }, { type: 'ipc', path: '/run/ipc/n' }, { type: 'uts', path: '/run/uts/n' }, { type: 'pid' },
    ]);
    expect(spec.linux.maskedPaths).toContain('/proc/kcore');
    expect(spec.linux.seccomp).toBeUndefined();
    const dests = spec.mounts.map((m) => m.destination);
    expect(dests).toEqual(expect.arrayContaining(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']));
    expect(dests.indexOf('/dev')).toBeLessThan(dests.indexOf('/dev/shm'));
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).toContain('ro');
    expect(spec.annotations).toMatchObject({ 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 's1', 'io.kubernetes.cri.container-name': 'app' });
  });

  it('CRI mounts replace defaults and set propagation', async () => {
    const { spec, terminationMessageHostPath } = await buildContainerSpec(
      input({
        config: {
          metadata: { name: 'app' },
          mounts: [
            { container_path: '/data', host_path: '/host/data', readonly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
            { container_path: '/dev/termination-log', host_path: '/pods/x/termination', propagation: 'PROPAGATION_PRIVATE' },
          ],
        },
        terminationLog: '/berth/termination-log',
      }),
    );
    expect(spec.mounts.find((m) => m.destination === '/data')).toEqual({ destination: '/data', type: 'bind', source: '/host/data', options: ['rbind', 'rslave', 'ro'] });
    expect(spec.linux.rootfsPropagation).toBe('rslave');
    expect(terminationMessageHostPath).toBe('/pods/x/termination');
    expect(spec.mounts.filter((m) => m.destination === '/dev/termination-log')).toHaveLength(1);
  });

  it('security context: user by name, readonly rootfs, caps, no_new_privs, seccomp, host network', async () => {
    const { spec } = await buildContainerSpec(
      input({
        config: {
          metadata: { name: 'app' },
          command: ['/bin/true'],
          linux: {
            security_context: {
              run_as_username: 'alice',
              readonly_rootfs: true,
              no_new_privs: true,
              capabilities: { drop_capabilities: ['NET_RAW'] },
              seccomp: { profile_type: 'RuntimeDefault' },
              namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' },
            },
            resources: { memory_limit_in_bytes: '8388608' },
          },
        },
        podNamespaces: { ipc: '/run/ipc/n' },
      }),
    );
    expect(spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 44] });
    expect(spec.root.readonly).toBe(true);
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.process.capabilities?.effective).not.toContain('CAP_NET_RAW');
    expect(spec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(spec.hostname).toBeUndefined();
    expect(spec.linux.namespaces.map((n) => n.type)).toEqual(['mount', 'ipc', 'pid']);
    expect(spec.linux.resources?.memory).toEqual({ limit: 8388608 });
    expect(spec.mounts.find((m) => m.destination === '/etc/hosts')?.options).toContain('ro');
  });

  it('privileged: all caps, no masks, rw /sys; needs a privileged pod', async () => {
    const priv = { privileged: true };
    await expect(buildContainerSpec(input({ config: { metadata: { name: 'a' }, linux: { security_context: priv } } }))).rejects.toMatchObject({ kind: 'InvalidArgument' });
    const { spec } = await buildContainerSpec(
      input({
        config: { metadata: { name: 'a' }, linux: { security_context: priv } },
        sandboxConfig: { metadata: { name: 'p', uid: 'u', namespace: 'n' }, linux: { security_context: priv } },
      }),
    );
    expect(spec.process.capabilities?.effective).toEqual([...ALL_CAPABILITIES]);
    expect(spec.linux.maskedPaths).toEqual([]);
    expect(spec.linux.readonlyPaths).toEqual([]);
    expect(spec.mounts.find((m) => m.destination === '/sys')?.options).not.toContain('ro');
    expect(spec.linux.resources?.devices?.[0]).toEqual({ allow: true, access: 'rwm' });
    expect(spec.linux.devices?.length).toBeGreaterThan(0);
  });

  it('pid POD joins the pod pid namespace when it has one; TARGET joins the target', async () => {
    const cfg = (pid: NamespaceMode) => ({ metadata: { name: 'a' }, linux: { security_context: { namespace_options: { pid, target_id: 't' } } } });
    expect((await buildContainerSpec(input({ config: cfg('POD') }))).spec.linux.namespaces).toContainEqual({ type: 'pid' });
    await expect(buildContainerSpec(input({ config: cfg('TARGET') }))).rejects.toMatchObject({ kind: 'FailedPrecondition' });
    const pod = await buildContainerSpec(input({ config: cfg('POD'), podNamespaces: { pid: '/proc/9/ns/pid' } }));
    expect(pod.spec.linux.namespaces).toContainEqual({ type: 'pid', path: '/proc/9/ns/pid' });
    const target = await buildContainerSpec(input({ config: cfg('TARGET'), targetPidNs: '/proc/7/ns/pid' }));
    expect(target.spec.linux.namespaces).toContainEqual({ type: 'pid', path: '/proc/7/ns/pid' });
  });

  it('runAsGroup without a user is InvalidArgument; sysctls pass through', async () => {
    await expect(buildContainerSpec(input({ config: { metadata: { name: 'a' }, linux: { security_context: { run_as_group: { value: '5' } } } } }))).rejects.toMatchObject({ kind: 'InvalidArgument' });
    const { spec } = await buildContainerSpec(input({ sandboxConfig: { metadata: { name: 'p', uid: 'u', namespace: 'n' }, linux: { sysctls: { 'net.ipv4.ip_forward': '1' } } } }));
    expect(spec.linux.sysctl).toEqual({ 'net.ipv4.ip_forward': '1' });
  });
});

describe('buildSandboxSpec', () => {
  it('joins pinned namespaces, owns a new pid namespace, runs without capabilities', async () => {
    const { spec } = await buildSandboxSpec({
      sandboxId: 's1',
      config: { metadata: { name: 'p', uid: 'u', namespace: 'n' }, hostname: 'h', linux: { cgroup_parent: '/kubepods/pod1' } },
      image: { name: 'pause', config: { Entrypoint: ['/pause'] } },
      rootfs,
      podNamespaces: { network: '/n', ipc: '/i', uts: '/u' },
      host: { cgroupDriver: 'cgroupfs', cgroupV2: false, minOomScoreAdj: 0, capabilities: ALL_CAPABILITIES },
    });
    expect(spec.process.args).toEqual(['/pause']);
    expect(spec.process.capabilities?.effective).toEqual([]);
    expect(spec.linux.namespaces).toEqual([{ type: 'mount' }, { type: 'pid' }, { type: 'network', path: '/n' }, { type: 'ipc', path: '/i' }, { type: 'uts', path: '/u' }]);
    expect(spec.annotations?.['io.kubernetes.cri.container-type']).toBe('sandbox');
    expect(spec.linux.cgroupsPath).toBe('/kubepods/pod1/s1');
  });
});
