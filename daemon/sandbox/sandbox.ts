import type { PodSandboxConfig__Output } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import type { PodNamespaces } from '../oci/spec/namespaces.js';
import type { StoredRecord } from '../store/record-store.js';

export type SandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

/**
 * A pod sandbox as berth persists it (`<root>/metadata/k8s.io/sandboxes/<id>.json`). berth keeps no infra
 * process for a pod unless its containers share a PID namespace: the pod's network, IPC and UTS namespaces are
 * pinned files, and the sandbox is "ready" while they and its network attachment exist.
 */
export interface SandboxRecord extends StoredRecord {
  /** The request's config, kept whole: containers are created against it and status reports from it. */
  config: PodSandboxConfig__Output;
  runtimeHandler: string;
  /** Nanoseconds since the epoch, decimal. */
  createdAt: string;
  state: SandboxState;
  /** `<state>/k8s.io/<id>`: hostname, hosts, resolv.conf, the shm mount, and the infra bundle when there is one. */
  dir: string;
  /** Pin paths of the namespaces berth created; a kind missing here is the host's. */
  pins: { net?: string; ipc?: string; uts?: string };
  hostNetwork: boolean;
  /** Where the pod's /dev/shm tmpfs is mounted; absent for host IPC. */
  shm?: string;
  /** Primary IP first; emptied when the network is torn down at stop. */
  ips: string[];
  /** The infra container holding the pod's PID namespace (shared-PID pods only). */
  infra?: { pid: number; bundle: string; snapshotKey: string };
}

/** The name that makes a sandbox unique, as kubelet's attempt counter sees it (containerd's format). */
export function sandboxName(config: PodSandboxConfig__Output): string {
  const m = config.metadata!;
  return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

/** The namespaces a container of this pod joins (see PodNamespaces: absent kinds are the host's). */
export function podNamespaces(sandbox: SandboxRecord): PodNamespaces {
  return {
    ...(sandbox.pins.net ? { network: sandbox.pins.net } : {}),
    ...(sandbox.pins.ipc ? { ipc: sandbox.pins.ipc } : {}),
    ...(sandbox.pins.uts ? { uts: sandbox.pins.uts } : {}),
    ...(sandbox.infra ? { pid: `/proc/${sandbox.infra.pid}/ns/pid` } : {}),
  };
}

/** The pod's hostname: the configured one, else the node's (as containerd does; kubelet always sets one). */
export function podHostname(config: PodSandboxConfig__Output, nodeHostname: string): string {
  return config.hostname || nodeHostname;
}
