import type { CgroupDriver } from '../../../config/types.js';
import type { ImageConfig } from '../image-spec.js';
import { invalidArgument } from '../../errors/errors.js';
import { OCI_VERSION, type RuntimeSpec } from './runtime-spec.js';
import { int64, namespaceModes, type ContainerConfig, type PodSandboxConfig } from './cri-input.js';
import { processArgs, processEnv } from './process.js';
import { resolveUserInRootfs, type ResolvedUser } from './user.js';
import { containerMounts, type SandboxFiles } from './mounts.js';
import { capabilitySets } from './capabilities.js';
import { seccompFor } from './seccomp.js';
import { containerNamespaces, type PodNamespaces } from './namespaces.js';
import { linuxResources } from './resources.js';
import { containerDevices } from './devices.js';
import { cgroupsPath } from './cgroups-path.js';
import { containerAnnotations } from './annotations.js';

/** Facts about the node the spec depends on, read once at daemon start. */
export interface SpecHost {
  cgroupDriver: CgroupDriver;
  cgroupV2: boolean;
  /** /proc/self/oom_score_adj of berthd: the lowest score it may give a container. */
  minOomScoreAdj: number;
  /** berthd's bounding capability set: the most any container can get. */
  capabilities: readonly string[];
}

/** containerd's masked and read-only paths for unprivileged containers. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface ContainerSpecInput {
  id: string;
  sandboxId: string;
  config: ContainerConfig;
  sandboxConfig: PodSandboxConfig;
  /** The image as the user named it, and its config. */
  image: { name: string; config: ImageConfig['config'] };
  /** Host path of the container's mounted rootfs: users and groups are looked up in its /etc. */
  rootfs: string;
  sandboxFiles: SandboxFiles;
  podNamespaces: PodNamespaces;
  /** /proc/<pid>/ns/pid of the target container, for namespace_options.pid = TARGET. */
  targetPidNs?: string;
  /** A berth-owned host file for /dev/termination-log, used when the CRI mounts bring none. */
  terminationLog?: string;
  host: SpecHost;
}

export interface ContainerSpecResult {
  spec: RuntimeSpec;
  user: ResolvedUser;
  /** Where the container's termination message lands on the host. */
  terminationMessageHostPath?: string;
  /** Adjustments worth a log line (e.g. a clamped oom_score_adj). */
  notes: string[];
}

/**
 * The OCI runtime spec of a CRI container. Pure apart from reading the image's /etc/passwd and /etc/group,
 * stat-ing the requested devices, and reading a Localhost seccomp profile. The rootfs is `rootfs` relative to
 * the bundle, where the caller mounts the snapshot.
 */
export async function buildContainerSpec(input: ContainerSpecInput): Promise<ContainerSpecResult> {
  const { config, sandboxConfig } = input;
  const name = config.metadata?.name ?? '';
  const what = `"${name}" (${input.id})`;
  const sc = config.linux?.security_context ?? undefined;
  const privileged = sc?.privileged ?? false;
  if (privileged && !(sandboxConfig.linux?.security_context?.privileged ?? false)) {
    throw invalidArgument(`container ${what} is privileged but its pod is not; set privileged in the pod's security context too`);
  }
  const imageConfig = input.image.config ?? {};

  const args = processArgs({ command: config.command ?? [], args: config.args ?? [] }, imageConfig, what);
  if (sc?.run_as_group && !sc.run_as_user && !sc.run_as_username) {
    throw invalidArgument(`container ${what} sets runAsGroup without runAsUser or a user name; set runAsUser too`);
  }
  const user = await resolveUserInRootfs(
    {
      runAsUser: sc?.run_as_user ? int64(sc.run_as_user.value) : undefined,
      runAsUsername: sc?.run_as_username || undefined,
      runAsGroup: sc?.run_as_group ? int64(sc.run_as_group.value) : undefined,
      supplementalGroups: (sc?.supplemental_groups ?? []).map(int64),
      imageUser: imageConfig.User,
    },
    input.rootfs,
    input.image.name,
  );

  const modes = namespaceModes(sc?.namespace_options);
  const hostUts = modes.network === 'NODE' || input.podNamespaces.uts === undefined;
  const hostname = sandboxConfig.hostname ?? '';
  const env = processEnv(imageConfig.Env ?? [], config.envs ?? [], hostname !== '' ? [`HOSTNAME=${hostname}`] : []);

  const readonlyRootfs = sc?.readonly_rootfs ?? false;
  const mountPlan = containerMounts({
    privileged,
    readonlyRootfs,
    sandbox: input.sandboxFiles,
    terminationLog: input.terminationLog,
    criMounts: config.mounts ?? [],
  });

  const caps = capabilitySets({
    privileged,
    add: sc?.capabilities?.add_capabilities ?? [],
    drop: sc?.capabilities?.drop_capabilities ?? [],
    ambient: sc?.capabilities?.add_ambient_capabilities ?? [],
    available: input.host.capabilities,
  });
  const seccomp = privileged ? undefined : await seccompFor(sc?.seccomp, sc?.seccomp_profile_path, caps.effective);
  const resourcePlan = linuxResources(config.linux?.resources, input.host);
  const devicePlan = await containerDevices(config.devices ?? [], privileged);
  resourcePlan.resources.devices = devicePlan.rules;

  const masked = privileged ? [] : (sc?.masked_paths?.length ?? 0) > 0 ? sc!.masked_paths! : [...DEFAULT_MASKED_PATHS];
  const readonlyPaths = privileged ? [] : (sc?.readonly_paths?.length ?? 0) > 0 ? sc!.readonly_paths! : [...DEFAULT_READONLY_PATHS];
  const sysctls = sandboxConfig.linux?.sysctls ?? {};

  const spec: RuntimeSpec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: config.tty ?? false,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args,
      env,
      cwd: config.working_dir || imageConfig.WorkingDir || '/',
      capabilities: caps,
      noNewPrivileges: sc?.no_new_privs ?? false,
      oomScoreAdj: resourcePlan.oomScoreAdj,
    },
    root: { path: 'rootfs', readonly: readonlyRootfs },
    ...(hostUts || hostname === '' ? {} : { hostname }),
    mounts: mountPlan.mounts,
    annotations: containerAnnotations(
      {
        sandboxId: input.sandboxId,
        name: sandboxConfig.metadata?.name ?? '',
        namespace: sandboxConfig.metadata?.namespace ?? '',
        uid: sandboxConfig.metadata?.uid ?? '',
      },
      name,
      input.image.name,
    ),
    linux: {
      namespaces: containerNamespaces({
        modes,
        pod: input.podNamespaces,
        targetPidNs: input.targetPidNs,
        newCgroupNs: input.host.cgroupV2 && !privileged,
        what,
      }),
      devices: devicePlan.devices,
      cgroupsPath: cgroupsPath(input.host.cgroupDriver, sandboxConfig.linux?.cgroup_parent ?? '', input.id),
      resources: resourcePlan.resources,
      ...(Object.keys(sysctls).length > 0 ? { sysctl: { ...sysctls } } : {}),
      ...(seccomp ? { seccomp } : {}),
      maskedPaths: masked,
      readonlyPaths,
      ...(mountPlan.rootfsPropagation ? { rootfsPropagation: mountPlan.rootfsPropagation } : {}),
    },
  };
  return { spec, user, terminationMessageHostPath: mountPlan.terminationMessageHostPath, notes: resourcePlan.notes };
}
