import type { ContainerConfig__Output } from '../../proto/gen/runtime/v1/ContainerConfig.js';
import type { LinuxContainerResources__Output } from '../../proto/gen/runtime/v1/LinuxContainerResources.js';
import type { StoredRecord } from '../store/record-store.js';

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

/** A container as berth persists it (`<root>/metadata/k8s.io/containers/<id>.json`). */
export interface ContainerRecord extends StoredRecord {
  sandboxId: string;
  config: ContainerConfig__Output;
  /** The image as the user named it, its id (config digest) and the reference status reports (a repo digest). */
  image: { name: string; id: string; ref: string; chainID?: string };
  /** Nanoseconds since the epoch, decimal; "0" until it happened. */
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  state: ContainerState;
  exitCode: number;
  reason: string;
  message: string;
  pid: number;
  /** `<state>/k8s.io/<id>`: config.json, rootfs/ (the mounted snapshot), the shim's files. */
  bundle: string;
  /** The snapshot key of the writable rootfs (the container id). */
  snapshotKey: string;
  /** Full CRI log path (sandbox log_directory + log_path), "" when output is discarded. */
  logPath: string;
  /** Host file behind /dev/termination-log. */
  terminationMessagePath?: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  /** Signal name StopContainer sends first (image StopSignal or CRI stop_signal), e.g. "SIGTERM". */
  stopSignal: string;
  /** The resources as last set (create or UpdateContainerResources), for status. */
  resources: LinuxContainerResources__Output | null;
}

/** containerd's container name format: unique per pod and restart attempt. */
export function containerName(config: ContainerConfig__Output, sandbox: { name: string; namespace: string; uid: string }): string {
  return `${config.metadata!.name}_${sandbox.name}_${sandbox.namespace}_${sandbox.uid}_${config.metadata!.attempt}`;
}
