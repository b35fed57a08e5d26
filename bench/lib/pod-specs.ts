import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import type { ContainerConfig } from '../../proto/gen/runtime/v1/ContainerConfig.js';

/** What kubelet sends for a pod without shareProcessNamespace, on the pod and again on each container. */
const NAMESPACES = { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } as const;

/** The pod a kubelet would send for a plain pod: own network, IPC and UTS namespaces, logs under logRoot. */
export function benchPod(name: string, logRoot: string): PodSandboxConfig {
  const uid = randomUUID();
  return {
    metadata: { name, uid, namespace: 'berth-bench', attempt: 0 },
    hostname: name,
    log_directory: join(logRoot, `berth-bench_${name}_${uid}`),
    labels: { app: 'berth-bench' },
    linux: { security_context: { namespace_options: NAMESPACES } },
  };
}

/** A container that idles until killed; the bench stops containers with a zero grace period. */
export function sleeperContainer(name: string, image: string): ContainerConfig {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    command: ['sleep', '86400'],
    log_path: `${name}.log`,
    labels: { app: 'berth-bench' },
    linux: { security_context: { namespace_options: NAMESPACES } },
  };
}
