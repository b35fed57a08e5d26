import { podNamespaces } from '../../sandbox/sandbox.js';
import type { RuntimeRpc } from '../handler.js';
import { containerStatusOf } from './container-view.js';
import { podSandboxStatusOf } from './sandbox-view.js';

const nowNs = (): string => (BigInt(Date.now()) * 1_000_000n).toString();

/**
 * The pod, its containers' statuses and the time of the reading. With verbose, `info` holds one JSON document like
 * containerd's: pid, namespace paths, runtime, dirs.
 */
export const podSandboxStatus: RuntimeRpc<'PodSandboxStatus'> = async (request, ctx) => {
  const sandbox = ctx.sandboxes.get(request.pod_sandbox_id);
  const info: Record<string, string> = {};
  if (request.verbose) {
    info['info'] = JSON.stringify({
      pid: sandbox.infra?.pid ?? 0,
      netNamespace: sandbox.pins.net ?? '',
      namespaces: podNamespaces(sandbox),
      hostNetwork: sandbox.hostNetwork,
      sandboxDir: sandbox.dir,
      shm: sandbox.shm ?? '',
      runtimeHandler: sandbox.runtimeHandler,
      image: sandbox.infra ? ctx.config.cri.sandbox_image : '',
      config: sandbox.config,
    });
  }
  // kubelet's evented PLEG reads the pod's containers from here rather than asking for each.
  const containers = ctx.containers.list().filter((c) => c.sandboxId === sandbox.id).map(containerStatusOf);
  return { status: podSandboxStatusOf(sandbox), info, containers_statuses: containers, timestamp: nowNs() };
};
