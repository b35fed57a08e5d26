import type { LinuxNamespace } from './runtime-spec.js';
import { failedPrecondition } from '../../errors/errors.js';
import type { NamespaceMode } from './cri-input.js';

/**
 * The namespaces a pod owns, as paths a container can join. berth pins net/ipc/uts without an infra process;
 * `pid` exists only when the pod shares one PID namespace (then its infra container holds it). An absent entry
 * means the pod uses the host's namespace of that kind.
 */
export interface PodNamespaces {
  network?: string;
  ipc?: string;
  uts?: string;
  pid?: string;
}

/**
 * The linux.namespaces of a container. Modes come from the container's CRI NamespaceOption: POD joins the
 * pod's namespace (or the host's, for a host-namespace pod), CONTAINER creates one, NODE stays in the host's,
 * TARGET joins another container's PID namespace (ephemeral debug containers). The mount namespace is always
 * new; the cgroup namespace is new on cgroup v2 so the container sees its own cgroup as the root.
 */
export function containerNamespaces(opts: {
  modes: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode };
  pod: PodNamespaces;
  targetPidNs?: string;
  newCgroupNs: boolean;
  what: string;
}): LinuxNamespace[] {
  const ns: LinuxNamespace[] = [{ type: 'mount' }];
  const join = (type: LinuxNamespace['type'], mode: NamespaceMode, podPath: string | undefined): void => {
    if (mode === 'CONTAINER') ns.push({ type });
    else if (mode === 'POD' && podPath !== undefined) ns.push({ type, path: podPath });
  };
  join('network', opts.modes.network, opts.pod.network);
  join('ipc', opts.modes.ipc, opts.pod.ipc);
  if (opts.modes.network !== 'NODE' && opts.pod.uts !== undefined) ns.push({ type: 'uts', path: opts.pod.uts });
  switch (opts.modes.pid) {
    case 'NODE':
      break;
    case 'POD':
      // A pod that does not share one PID namespace gives each container its own, whatever the container asks.
      ns.push(opts.pod.pid === undefined ? { type: 'pid' } : { type: 'pid', path: opts.pod.pid });
      break;
    case 'TARGET':
      if (opts.targetPidNs === undefined) throw failedPrecondition(`container ${opts.what} targets another container's PID namespace, but that container is not running`);
      ns.push({ type: 'pid', path: opts.targetPidNs });
      break;
    case 'CONTAINER':
      ns.push({ type: 'pid' });
      break;
  }
  if (opts.newCgroupNs) ns.push({ type: 'cgroup' });
  return ns;
}
