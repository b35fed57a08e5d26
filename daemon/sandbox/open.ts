import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { BerthConfig } from '../../config/types.js';
import type { SpareShims } from '../../shim/client.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { ContainerService } from '../container/container-service.js';
import type { ContainerRecord } from '../container/container.js';
import { Tasks } from '../container/tasks.js';
import type { EventBus, LifecycleHook } from '../events/event-bus.js';
import { CRI_NAMESPACE, type ImageService } from '../images/image-service.js';
import { NamespacePins } from '../linux/namespace-pins.js';
import type { Logger } from '../logging/logger.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import { readSpecHost } from '../oci/spec/host.js';
import { RecordStore } from '../store/record-store.js';
import { recoverPods, sweepBundle, sweepPins } from './restart.js';
import { SandboxService } from './sandbox-service.js';
import type { SandboxRecord } from './sandbox.js';

/** Where one namespace's records live: `<root>/metadata/<ns>/{sandboxes,containers}/<id>.json`. */
export function metadataDir(config: BerthConfig, namespace: string, kind: 'sandboxes' | 'containers'): string {
  return path.join(config.root, 'metadata', namespace, kind);
}

/**
 * Where a namespace pins its pods' namespaces. The CRI's stay at `<state>/netns` and `<state>/ns` (the paths
 * `ip netns` and CNI users know); another namespace's under `<state>/pins/<ns>/`, so one namespace's restart
 * sweep never sees, nor removes, another's pins.
 */
function pinsDir(config: BerthConfig, namespace: string): string {
  return namespace === CRI_NAMESPACE ? config.state : path.join(config.state, 'pins', namespace);
}

export interface PodServices {
  sandboxes: SandboxService;
  containers: ContainerService;
  /** The namespace's shim connections (for the berth_shims gauge). */
  tasks: Tasks;
  /** What the doctor needs beyond the services: the namespace's on-disk areas and how to sweep an id without a record. */
  upkeep: PodUpkeep;
}

export interface PodUpkeep {
  /** `<state>/<ns>`: one bundle directory per container and sandbox. */
  bundlesDir: string;
  /** `<state>/runc/<ns>`: the runtime's --root. */
  runcRoot: string;
  /** Where the pods' namespace pins live (netns/<id>, ns/<id>/). */
  pinDirs: string[];
  /** `<root>/metadata/<ns>/{sandboxes,containers}`. */
  metadataDirs: string[];
  /** Ids whose record file does not parse (found at start). */
  damaged: string[];
  /** Ids whose create is under way: on disk, not yet recorded. */
  inFlight(): string[];
  sweepBundle(id: string): Promise<void>;
  sweepPins(id: string): Promise<void>;
}

/**
 * The pod services of one berth namespace as berthd runs them: record stores loaded and restart recovery done
 * (restart.ts) before the first RPC is served. Exit events reach the container service (app containers) and the
 * sandbox service (infra containers) through one Tasks instance. The CRI uses "k8s.io"; berthctl's plain
 * containers live in their own namespaces, each with its own records, bundles (`<state>/<ns>/`) and runtime
 * state (`<state>/runc/<ns>/`).
 */
export async function openPodServices(
  config: BerthConfig,
  namespace: string,
  logger: Logger,
  deps: { images: ImageService; snapshotter: Snapshotter; network: NetworkPlugin; events: EventBus; spares?: SpareShims },
): Promise<PodServices> {
  const log = logger.child({ component: 'pods', namespace });
  const warn = (detail: { file: string; err: unknown }, msg: string): void => log.warn(detail, msg);
  const [sandboxStore, containerStore, specHost] = await Promise.all([
    RecordStore.open<SandboxRecord>({ dir: metadataDir(config, namespace, 'sandboxes'), kind: 'pod sandbox', removeHint: (id) => `remove it with crictl rmp ${id}`, warn }),
    RecordStore.open<ContainerRecord>({ dir: metadataDir(config, namespace, 'containers'), kind: 'container', removeHint: (id) => `remove it with crictl rm ${id}`, warn }),
    readSpecHost(config.cri.cgroup_driver),
  ]);
  const events = {
    onExit: (id: string, exit: Parameters<ContainerService['handleExit']>[1]) => {
      containers.handleExit(id, exit);
      sandboxes.handleInfraExit(id, exit).catch((err: unknown) => log.error({ err, sandbox: id }, 'recording an infra container exit'));
    },
    onGone: (id: string) => containers.handleShimGone(id),
  };
  // The records are read when the change happens, so late readers see the state the event reports.
  const lifecycle: LifecycleHook = (kind, containerId, sandboxId) =>
    deps.events.publish({
      namespace,
      kind,
      containerId,
      sandboxId,
      atNs: (BigInt(Date.now()) * 1_000_000n).toString(),
      sandbox: sandboxStore.find(sandboxId),
      containers: containerStore.list().filter((c) => c.sandboxId === sandboxId),
    });
  const tasks = new Tasks(namespace, path.join(config.state, 'runc', namespace), events, log, deps.spares);
  const common = { config, namespace, lifecycle, logger: log, images: deps.images, snapshotter: deps.snapshotter, tasks, specHost };
  const containers = new ContainerService({ ...common, store: containerStore, sandboxes: sandboxStore });
  const pins = new NamespacePins(pinsDir(config, namespace));
  const sandboxes = new SandboxService({ ...common, store: sandboxStore, pins, network: deps.network, containers });
  // The namespace's bundles; root only, as each bundle in it (containerd leaves this level 0711, nobody needs more).
  await mkdir(path.join(config.state, namespace), { recursive: true, mode: 0o700 });
  await chmod(path.join(config.state, namespace), 0o700);
  const damaged = [...sandboxStore.damaged, ...containerStore.damaged];
  const sweep = { config, namespace, tasks, snapshotter: deps.snapshotter, pins, network: deps.network };
  await recoverPods({ ...sweep, logger: log, sandboxes, containers, damaged });
  const upkeep: PodUpkeep = {
    bundlesDir: path.join(config.state, namespace),
    runcRoot: path.join(config.state, 'runc', namespace),
    pinDirs: [pins.netnsDir, pins.nsDir],
    metadataDirs: [metadataDir(config, namespace, 'sandboxes'), metadataDir(config, namespace, 'containers')],
    damaged,
    inFlight: () => [...sandboxStore.creating(), ...containerStore.creating()],
    sweepBundle: (id) => sweepBundle(sweep, id),
    sweepPins: (id) => sweepPins(sweep, id),
  };
  return { sandboxes, containers, tasks, upkeep };
}
