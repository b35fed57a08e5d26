/**
 * The slice of CRI v1 messages the spec generator reads, in the proto's own field names. The types are narrow
 * and structural on purpose: whatever the gRPC loader hands over (int64 as number or decimal string, enums as
 * names or numbers) fits them, and the generator stays testable with plain objects.
 */
export type Int64 = number | string | bigint;
/** An enum value as proto-loader may deliver it: its name or its number. */
export type EnumValue = string | number;

/** berth's proto declares the value as bytes (wire-compatible with the published string), so it may arrive as a Buffer. */
export interface KeyValue { key: string; value: string | Uint8Array }
export interface Int64Value { value: Int64 }

export interface NamespaceOption {
  network?: EnumValue;
  pid?: EnumValue;
  ipc?: EnumValue;
  target_id?: string;
}

export interface SecurityProfile {
  profile_type?: EnumValue;
  localhost_ref?: string;
}

export interface LinuxContainerResources {
  cpu_period?: Int64;
  cpu_quota?: Int64;
  cpu_shares?: Int64;
  memory_limit_in_bytes?: Int64;
  oom_score_adj?: Int64;
  cpuset_cpus?: string;
  cpuset_mems?: string;
  hugepage_limits?: Array<{ page_size: string; limit: Int64 }>;
  unified?: Record<string, string>;
  memory_swap_limit_in_bytes?: Int64;
}

export interface LinuxContainerSecurityContext {
  capabilities?: { add_capabilities?: string[]; drop_capabilities?: string[]; add_ambient_capabilities?: string[] } | null;
  privileged?: boolean;
  namespace_options?: NamespaceOption | null;
  run_as_user?: Int64Value | null;
  run_as_group?: Int64Value | null;
  run_as_username?: string;
  readonly_rootfs?: boolean;
  supplemental_groups?: Int64[];
  no_new_privs?: boolean;
  masked_paths?: string[];
  readonly_paths?: string[];
  seccomp?: SecurityProfile | null;
  seccomp_profile_path?: string;
}

export interface CriMount {
  container_path: string;
  host_path: string;
  readonly?: boolean;
  propagation?: EnumValue;
}

export interface CriDevice { container_path: string; host_path: string; permissions: string }

export interface ContainerConfig {
  metadata?: { name: string; attempt?: number } | null;
  image?: { image: string } | null;
  command?: string[];
  args?: string[];
  working_dir?: string;
  envs?: KeyValue[];
  mounts?: CriMount[];
  devices?: CriDevice[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  log_path?: string;
  stdin?: boolean;
  stdin_once?: boolean;
  tty?: boolean;
  linux?: { resources?: LinuxContainerResources | null; security_context?: LinuxContainerSecurityContext | null } | null;
}

export interface LinuxSandboxSecurityContext {
  namespace_options?: NamespaceOption | null;
  run_as_user?: Int64Value | null;
  run_as_group?: Int64Value | null;
  readonly_rootfs?: boolean;
  supplemental_groups?: Int64[];
  privileged?: boolean;
  seccomp?: SecurityProfile | null;
}

export interface PodSandboxConfig {
  metadata?: { name: string; uid: string; namespace: string; attempt?: number } | null;
  hostname?: string;
  log_directory?: string;
  dns_config?: { servers?: string[]; searches?: string[]; options?: string[] } | null;
  port_mappings?: Array<{ protocol?: EnumValue; container_port?: number; host_port?: number; host_ip?: string }>;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroup_parent?: string;
    security_context?: LinuxSandboxSecurityContext | null;
    sysctls?: Record<string, string>;
    resources?: LinuxContainerResources | null;
    overhead?: LinuxContainerResources | null;
  } | null;
}

/** Reads an int64 field whatever its wire representation; absent is 0, as proto3 defines. */
export function int64(v: Int64 | null | undefined): number {
  if (v === undefined || v === null || v === '') return 0;
  return Number(v);
}

/** Normalises an enum value to its name, given the enum's names in number order. */
export function enumName<T extends string>(v: EnumValue | null | undefined, names: readonly T[]): T {
  if (v === undefined || v === null) return names[0]!;
  if (typeof v === 'number') return names[v] ?? names[0]!;
  return (names as readonly string[]).includes(v) ? (v as T) : names[0]!;
}

export const NamespaceModes = ['POD', 'CONTAINER', 'NODE', 'TARGET'] as const;
export type NamespaceMode = (typeof NamespaceModes)[number];
export const MountPropagations = ['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'] as const;
export const ProfileTypes = ['RuntimeDefault', 'Unconfined', 'Localhost'] as const;

export function namespaceModes(opt: NamespaceOption | null | undefined): { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode } {
  return {
    network: enumName(opt?.network, NamespaceModes),
    pid: enumName(opt?.pid, NamespaceModes),
    ipc: enumName(opt?.ipc, NamespaceModes),
  };
}

/** Whether a pod shares one PID namespace among its containers: only when it asks explicitly (kubelet's shareProcessNamespace). */
export function podSharesPid(config: { linux?: { security_context?: { namespace_options?: NamespaceOption | null } | null } | null }): boolean {
  const opt = config.linux?.security_context?.namespace_options;
  return opt !== null && opt !== undefined && enumName(opt.pid, NamespaceModes) === 'POD';
}
