import type { RuntimeRpcTable } from '../handler.js';
import { attach } from './attach.js';
import { containerStats } from './container-stats.js';
import { containerStatus } from './container-status.js';
import { createContainer } from './create-container.js';
import { exec } from './exec.js';
import { execSync } from './exec-sync.js';
import { getContainerEvents } from './get-container-events.js';
import { listContainerStats } from './list-container-stats.js';
import { listContainers } from './list-containers.js';
import { listPodSandbox } from './list-pod-sandbox.js';
import { listPodSandboxStats } from './list-pod-sandbox-stats.js';
import { podSandboxStats } from './pod-sandbox-stats.js';
import { portForward } from './port-forward.js';
import { podSandboxStatus } from './pod-sandbox-status.js';
import { removeContainer } from './remove-container.js';
import { removePodSandbox } from './remove-pod-sandbox.js';
import { reopenContainerLog } from './reopen-container-log.js';
import { runPodSandbox } from './run-pod-sandbox.js';
import { startContainer } from './start-container.js';
import { stopContainer } from './stop-container.js';
import { stopPodSandbox } from './stop-pod-sandbox.js';
import { streamContainerStats } from './stream-container-stats.js';
import { streamContainers } from './stream-containers.js';
import { streamPodSandboxStats } from './stream-pod-sandbox-stats.js';
import { streamPodSandboxes } from './stream-pod-sandboxes.js';
import { updateContainerResources } from './update-container-resources.js';
import { runtimeConfig } from './runtime-config.js';
import { status } from './status.js';
import { updateRuntimeConfig } from './update-runtime-config.js';
import { version } from './version.js';

/**
 * runtime.v1.RuntimeService as berth serves it: one file per RPC in this folder, one line per RPC here.
 * An RPC missing from this table answers UNIMPLEMENTED.
 */
export const runtimeRpcs: RuntimeRpcTable = {
  Version: version,
  Status: status,
  RuntimeConfig: runtimeConfig,
  UpdateRuntimeConfig: updateRuntimeConfig,
  RunPodSandbox: runPodSandbox,
  StopPodSandbox: stopPodSandbox,
  RemovePodSandbox: removePodSandbox,
  PodSandboxStatus: podSandboxStatus,
  ListPodSandbox: listPodSandbox,
  CreateContainer: createContainer,
  StartContainer: startContainer,
  StopContainer: stopContainer,
  RemoveContainer: removeContainer,
  ListContainers: listContainers,
  ContainerStatus: containerStatus,
  UpdateContainerResources: updateContainerResources,
  ExecSync: execSync,
  Exec: exec,
  Attach: attach,
  PortForward: portForward,
  ContainerStats: containerStats,
  ListContainerStats: listContainerStats,
  PodSandboxStats: podSandboxStats,
  ListPodSandboxStats: listPodSandboxStats,
  ReopenContainerLog: reopenContainerLog,
  GetContainerEvents: getContainerEvents,
  StreamPodSandboxes: streamPodSandboxes,
  StreamContainers: streamContainers,
  StreamContainerStats: streamContainerStats,
  StreamPodSandboxStats: streamPodSandboxStats,
};

/**
 * The runtime RPCs whose response is one list of per-record views shared between calls (containerOf,
 * podSandboxOf), by the response field holding it; the server reuses each view's encoding (server/list-encoding.ts).
 */
export const runtimeListFields: Readonly<Record<string, string>> = {
  ListContainers: 'containers',
  ListPodSandbox: 'items',
  StreamContainers: 'containers',
  StreamPodSandboxes: 'pod_sandboxes',
};
