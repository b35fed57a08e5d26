import path from 'node:path';
import type { BerthConfig, RuntimeHandlerConfig } from '../../config/types.js';
import { unmount } from '../../snapshotter/mount.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { destroyBundle } from '../container/bundle.js';
import { dirEntries } from '../fs/dir-entries.js';
import type { ContainerService } from '../container/container-service.js';
import type { Tasks } from '../container/tasks.js';
import type { NamespacePins } from '../linux/namespace-pins.js';
import type { Logger } from '../logging/logger.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import { runtimeFor } from './runtime-handler.js';
import type { SandboxService } from './sandbox-service.js';

/**
 * What berthd does about pods and containers when it starts, before serving.
 *
 * The contract. While berthd is down:
 * - containers keep running under their shims and may exit; each shim records the exit in its bundle's
 *   exit.json and keeps answering on its socket. → Recovery reconnects and records the exits it missed.
 * - a shim may die (killed, or the node rebooted and <state> is gone). → A running container with neither shim
 *   nor exit.json is stopped with the runtime (nothing is left to collect its output) and reported EXITED 255;
 *   a pod whose pins or infra container are gone becomes NOTREADY.
 * - records in <root>/metadata never change: only berthd writes them.
 * - a create interrupted by the crash can leave a bundle, a rootfs snapshot, a shim, namespace pins and a CNI
 *   attachment that no record names (records are written last). → They are swept: runtime delete, unmount,
 *   snapshot removal, CNI DEL, unpin, rm. Anything a record names is never touched by the sweep, nor is what a
 *   damaged (unparseable) record file names.
 * - one entry may be broken (a hung shim, a damaged record): its recovery is bounded in time and it is reported
 *   (CONTAINER_UNKNOWN with a reason, or a log line) while the others recover.
 */
/** How long recovery waits for one object's shim before reporting the object and moving on. */
export const RECOVERY_LIMIT_MS = 5000;

export async function recoverPods(d: {
  config: BerthConfig;
  /** Only this namespace's bundles and pins are swept. */
  namespace: string;
  logger: Logger;
  sandboxes: SandboxService;
  containers: ContainerService;
  tasks: Tasks;
  snapshotter: Snapshotter;
  pins: NamespacePins;
  network: NetworkPlugin;
  /** Ids whose record file is damaged: not recovered, and not swept either. */
  damaged: string[];
}): Promise<void> {
  await d.containers.recover();
  await d.sandboxes.recover();
  const known = new Set([...d.sandboxes.list().map((s) => s.id), ...d.containers.list().map((c) => c.id), ...d.damaged]);
  const runtime = runtimeFor(d.config, '');

  for (const id of await dirEntries(path.join(d.config.state, d.namespace))) {
    if (known.has(id)) continue;
    d.logger.warn({ bundle: path.join(d.config.state, d.namespace, id) }, 'removing a bundle no record names (a create interrupted by a crash)');
    await sweepBundle(d, id, runtime);
  }
  const pinned = new Set([...(await dirEntries(d.pins.netnsDir)), ...(await dirEntries(d.pins.nsDir))]);
  for (const id of pinned) {
    if (known.has(id)) continue;
    d.logger.warn({ id }, 'removing namespace pins and the network attachment no pod record names');
    await sweepPins(d, id);
  }
}

/**
 * Removes everything object `id` may have in the namespace's bundle area without a record: its runtime container
 * (through its shim, or runc delete), the shm mount, the rootfs mount and snapshot (and an infra rootfs), the
 * directory. Each step tolerates having nothing to do; the doctor's --fix uses it too.
 */
export async function sweepBundle(
  d: { config: BerthConfig; namespace: string; tasks: Tasks; snapshotter: Snapshotter },
  id: string,
  runtime: RuntimeHandlerConfig = runtimeFor(d.config, ''),
): Promise<void> {
  const bundle = path.join(d.config.state, d.namespace, id);
  await d.tasks.delete(id, bundle, runtime);
  unmount(path.join(bundle, 'shm'));
  await destroyBundle(d.snapshotter, bundle, id);
  // An interrupted shared-PID pod left its infra rootfs under this key.
  await destroyBundle(d.snapshotter, bundle, `${id}-infra`);
}

/** Detaches the network (CNI DEL from its cache) and removes the namespace pins of pod `id` that has no record. */
export async function sweepPins(d: { pins: NamespacePins; network: NetworkPlugin }, id: string): Promise<void> {
  await d.network.tearDown({ id, namespace: '', name: '', uid: '', netnsPath: d.pins.paths(id).net });
  await d.pins.remove(id);
}
