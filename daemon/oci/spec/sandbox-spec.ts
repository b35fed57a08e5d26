import type { ImageConfig } from '../image-spec.js';
import { OCI_VERSION, type RuntimeSpec } from './runtime-spec.js';
import { int64, type PodSandboxConfig } from './cri-input.js';
import { processArgs, processEnv } from './process.js';
import { resolveUserInRootfs } from './user.js';
import { capabilitySets } from './capabilities.js';
import { defaultSeccompProfile } from './seccomp.js';
import { linuxResources } from './resources.js';
import { cgroupsPath } from './cgroups-path.js';
import { sandboxAnnotations } from './annotations.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, type SpecHost } from './container-spec.js';
import type { PodNamespaces } from './namespaces.js';

/**
 * The spec of a pod's infra container. berth starts one only for a pod that shares a PID namespace among its
 * containers: the infra process (the sandbox image's pause) is PID 1 there and reaps orphans. It joins the pod's
 * pinned net/ipc/uts namespaces, holds a new PID namespace, runs read-only without capabilities under the
 * RuntimeDefault seccomp profile, and lives in the pod's cgroup parent like any container.
 */
export async function buildSandboxSpec(input: {
  sandboxId: string;
  config: PodSandboxConfig;
  image: { name: string; config: ImageConfig['config'] };
  rootfs: string;
  podNamespaces: PodNamespaces;
  host: SpecHost;
}): Promise<{ spec: RuntimeSpec; notes: string[] }> {
  const { config } = input;
  const sc = config.linux?.security_context ?? undefined;
  const imageConfig = input.image.config ?? {};
  const user = await resolveUserInRootfs(
    {
      runAsUser: sc?.run_as_user ? int64(sc.run_as_user.value) : undefined,
      runAsGroup: sc?.run_as_group ? int64(sc.run_as_group.value) : undefined,
      supplementalGroups: (sc?.supplemental_groups ?? []).map(int64),
      imageUser: imageConfig.User,
    },
    input.rootfs,
    input.image.name,
  );
  const caps = capabilitySets({ privileged: false, add: [], drop: ['ALL'], ambient: [], available: input.host.capabilities });
  const resourcePlan = linuxResources(config.linux?.resources, input.host);
  const ns = input.podNamespaces;
  const hostname = config.hostname ?? '';
  const spec: RuntimeSpec = {
    ociVersion: OCI_VERSION,
    process: {
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: processArgs({ command: [], args: [] }, imageConfig, `pause of pod ${input.sandboxId}`),
      env: processEnv(imageConfig.Env ?? [], [], []),
      cwd: imageConfig.WorkingDir || '/',
      capabilities: caps,
      noNewPrivileges: true,
      oomScoreAdj: resourcePlan.oomScoreAdj,
    },
    root: { path: 'rootfs', readonly: true },
    ...(ns.uts !== undefined && hostname !== '' ? { hostname } : {}),
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    annotations: sandboxAnnotations(
      {
        sandboxId: input.sandboxId,
        name: config.metadata?.name ?? '',
        namespace: config.metadata?.namespace ?? '',
        uid: config.metadata?.uid ?? '',
      },
      config.log_directory ?? '',
    ),
    linux: {
      namespaces: [
        { type: 'mount' },
        { type: 'pid' },
        ...(ns.network !== undefined ? [{ type: 'network' as const, path: ns.network }] : []),
        ...(ns.ipc !== undefined ? [{ type: 'ipc' as const, path: ns.ipc }] : []),
        ...(ns.uts !== undefined ? [{ type: 'uts' as const, path: ns.uts }] : []),
      ],
      cgroupsPath: cgroupsPath(input.host.cgroupDriver, config.linux?.cgroup_parent ?? '', input.sandboxId),
      resources: { ...resourcePlan.resources, devices: [{ allow: false, access: 'rwm' }] },
      seccomp: defaultSeccompProfile(caps.effective),
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
  return { spec, notes: resourcePlan.notes };
}
