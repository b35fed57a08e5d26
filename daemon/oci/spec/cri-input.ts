import type { ContainerConfig__Output } from '../../../proto/gen/runtime/v1/ContainerConfig.js';
import type { Device__Output } from '../../../proto/gen/runtime/v1/Device.js';
import type { KeyValue__Output } from '../../../proto/gen/runtime/v1/KeyValue.js';
import type { LinuxContainerResources__Output } from '../../../proto/gen/runtime/v1/LinuxContainerResources.js';
import type { Mount__Output } from '../../../proto/gen/runtime/v1/Mount.js';
import type { NamespaceMode__Output } from '../../../proto/gen/runtime/v1/NamespaceMode.js';
import type { NamespaceOption__Output } from '../../../proto/gen/runtime/v1/NamespaceOption.js';
import type { PodSandboxConfig__Output } from '../../../proto/gen/runtime/v1/PodSandboxConfig.js';
import type { SecurityProfile__Output } from '../../../proto/gen/runtime/v1/SecurityProfile.js';

/**
 * The CRI messages the spec generator reads: the generated types of what the gRPC loader decodes (proto field
 * names, int64 as decimal strings, enums as names), made deeply optional so the generator's callers and tests
 * pass only what matters. An absent field means the proto3 default.
 */
type Loose<T> = T extends Buffer
  ? T
  : T extends readonly (infer U)[]
    ? Loose<U>[]
    : T extends object
      ? string extends keyof T
        ? T // a map (labels, sysctls): kept whole
        : { [K in keyof T]?: Loose<T[K]> }
      : T;

export type ContainerConfig = Loose<ContainerConfig__Output>;
export type PodSandboxConfig = Loose<PodSandboxConfig__Output>;
export type LinuxContainerResources = Loose<LinuxContainerResources__Output>;
export type CriMount = Loose<Mount__Output>;
export type CriDevice = Loose<Device__Output>;
export type KeyValue = Loose<KeyValue__Output>;
export type NamespaceOption = Loose<NamespaceOption__Output>;
export type SecurityProfile = Loose<SecurityProfile__Output>;
export type NamespaceMode = NamespaceMode__Output;

/** Reads an int64 field (a decimal string once decoded); absent is 0, as proto3 defines. */
export function int64(v: string | number | null | undefined): number {
  if (v === undefined || v === null || v === '') return 0;
  return Number(v);
}

/** The modes of a NamespaceOption; an absent option or field is POD, the enum's zero value. */
export function namespaceModes(opt: NamespaceOption | null | undefined): { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode } {
  return { network: opt?.network ?? 'POD', pid: opt?.pid ?? 'POD', ipc: opt?.ipc ?? 'POD' };
}

/**
 * Whether a pod shares one PID namespace among its containers (then it gets an infra container). kubelet always
 * sends namespace_options and asks for POD only for shareProcessNamespace; a pod without them (crictl's minimal
 * pod.json, critest) is POD too, the CRI's stated default, and containerd shares its pause container's PID
 * namespace with such a pod's containers.
 */
export function podSharesPid(config: PodSandboxConfig): boolean {
  return namespaceModes(config.linux?.security_context?.namespace_options).pid === 'POD';
}
