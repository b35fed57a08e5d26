import path from 'node:path';
import type { BerthConfig } from '../../config/types.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { ContainerService } from '../container/container-service.js';
import type { ContainerRecord } from '../container/container.js';
import { NAMESPACE, Tasks } from '../container/tasks.js';
import type { ImageService } from '../images/image-service.js';
import { NamespacePins } from '../linux/namespace-pins.js';
import type { Logger } from '../logging/logger.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import { readSpecHost } from '../oci/spec/host.js';
import { RecordStore } from '../store/record-store.js';
import { recoverPods } from './restart.js';
import { SandboxService } from './sandbox-service.js';
import type { SandboxRecord } from './sandbox.js';

/** Where one namespace's records live: `<root>/metadata/<ns>/{sandboxes,containers}/<id>.json`. */
export function metadataDir(config: BerthConfig, kind: 'sandboxes' | 'containers'): string {
  return path.join(config.root, 'metadata', NAMESPACE, kind);
}

/**
 * The pod services as berthd runs them: record stores loaded and restart recovery done (restart.ts) before the
 * first RPC is served. Exit events reach the container service (app
 * containers) and the sandbox service (infra containers) through one Tasks instance.
 */
export async function openPodServices(
  config: BerthConfig,
  logger: Logger,
  deps: { images: ImageService; snapshotter: Snapshotter; network: NetworkPlugin },
): Promise<{ sandboxes: SandboxService; containers: ContainerService }> {
  const log = logger.child({ component: 'pods' });
  const warn = (detail: { file: string; err: unknown }, msg: string): void => log.warn(detail, msg);
  const [sandboxStore, containerStore, specHost] = await Promise.all([
    RecordStore.open<SandboxRecord>({ dir: metadataDir(config, 'sandboxes'), kind: 'pod sandbox', removeHint: (id) => `remove it with crictl rmp ${id}`, warn }),
    RecordStore.open<ContainerRecord>({ dir: metadataDir(config, 'containers'), kind: 'container', removeHint: (id) => `remove it with crictl rm ${id}`, warn }),
    readSpecHost(config.cri.cgroup_driver),
  ]);
  const events = {
    onExit: (id: string, exit: Parameters<ContainerService['handleExit']>[1]) => {
      containers.handleExit(id, exit);
      sandboxes.handleInfraExit(id, exit).catch((err: unknown) => log.error({ err, sandbox: id }, 'recording an infra container exit'));
    },
    onGone: (id: string) => containers.handleShimGone(id),
  };
  const tasks = new Tasks(path.join(config.state, 'runc', NAMESPACE), events, log);
  const common = { config, logger: log, images: deps.images, snapshotter: deps.snapshotter, tasks, specHost };
  const containers = new ContainerService({ ...common, store: containerStore, sandboxes: sandboxStore });
  const pins = new NamespacePins(config.state);
  const sandboxes = new SandboxService({ ...common, store: sandboxStore, pins, network: deps.network, containers });
  deps.images.setChainUsage({ isChainInUse: (chainID) => containers.isChainInUse(chainID) });
  await recoverPods({ config, logger: log, sandboxes, containers, tasks, snapshotter: deps.snapshotter, pins, network: deps.network });
  return { sandboxes, containers };
}
