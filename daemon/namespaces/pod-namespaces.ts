import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { BerthConfig } from '../../config/types.js';
import { SpareShims } from '../../shim/client.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { invalidArgument } from '../errors/errors.js';
import type { EventBus } from '../events/event-bus.js';
import { CRI_NAMESPACE, type ImageService } from '../images/image-service.js';
import { checkNamespace } from '../images/image-store.js';
import type { Logger } from '../logging/logger.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import { openPodServices, type PodServices } from '../sandbox/open.js';

/** Names that are directories of their own under <state> (runc roots, CRI pins, spare shims), so no namespace may take them. */
const RESERVED = new Set(['runc', 'netns', 'ns', 'pins', 'spares']);
/**
 * Shims kept started ahead of need, shared by all namespaces: a container's create then skips node's start-up
 * of its shim (50-200 ms here). One covers pods started one after another; each costs an idle shim's memory.
 */
const SPARE_SHIMS = 1;

interface Deps {
  images: ImageService;
  snapshotter: Snapshotter;
  network: NetworkPlugin;
  events: EventBus;
}

/**
 * The pod services of every berth namespace. "k8s.io" (the CRI's) is opened at start; another namespace is
 * opened at start when it has records on disk (so its containers are recovered after a restart), else on first
 * use by berthctl. Each namespace sees only its own sandboxes and containers; images are namespaced by the
 * image service the same way.
 */
export class PodNamespaces {
  private readonly opened = new Map<string, Promise<PodServices>>();
  /** The same, once open: what synchronous callers (image GC, metrics) read. */
  private readonly settled = new Map<string, PodServices>();
  private criServices: PodServices | undefined;

  private constructor(
    private readonly config: BerthConfig,
    private readonly logger: Logger,
    private readonly deps: Deps & { spares: SpareShims },
  ) {
    // An image is in use while a container of any namespace runs on it.
    deps.images.setChainUsage({ isChainInUse: (chainID) => this.loaded().some((p) => p.containers.isChainInUse(chainID)) });
  }

  static async open(config: BerthConfig, logger: Logger, deps: Deps): Promise<PodNamespaces> {
    const log = logger.child({ component: 'spare-shims' });
    // Spares a killed daemon left are adopted; they carry no container, so no recovery waits on them.
    const spares = await SpareShims.open(path.join(config.state, 'spares'), {
      size: SPARE_SHIMS,
      onRefillError: (err) => log.warn({ err }, 'starting a spare shim failed; the next container starts its own'),
    });
    const namespaces = new PodNamespaces(config, logger, { ...deps, spares });
    namespaces.criServices = await namespaces.get(CRI_NAMESPACE);
    for (const name of await namespaces.onDisk()) {
      if (name === CRI_NAMESPACE) continue;
      const records = await dirEntries(path.join(config.root, 'metadata', name));
      if (records.includes('containers') || records.includes('sandboxes')) await namespaces.get(name);
    }
    return namespaces;
  }

  /** Shuts the unused spare shims down (at a clean stop; after a crash the next daemon adopts them). */
  close(): Promise<void> {
    return this.deps.spares.close();
  }

  /** The CRI's namespace, opened at start. */
  get cri(): PodServices {
    if (this.criServices === undefined) throw new Error('PodNamespaces.cri read before open() finished');
    return this.criServices;
  }

  /** The pod services of `namespace`, opening (and recovering) them on first use. */
  get(namespace: string): Promise<PodServices> {
    checkNamespace(namespace);
    if (RESERVED.has(namespace)) throw invalidArgument(`namespace "${namespace}" is reserved by berth; choose another name`);
    let services = this.opened.get(namespace);
    if (services === undefined) {
      services = openPodServices(this.config, namespace, this.logger, this.deps);
      this.opened.set(namespace, services);
      services.then(
        (open) => this.settled.set(namespace, open),
        () => this.opened.delete(namespace),
      );
    }
    return services;
  }

  /**
   * The services of `namespace` if it has any pods or containers, without creating it: every namespace with
   * records was opened at start or since, so one not open holds nothing (a typo in `-n` leaves no trace).
   */
  async existing(namespace: string): Promise<PodServices | undefined> {
    checkNamespace(namespace);
    return this.opened.get(namespace);
  }

  /** Namespaces whose services are open, with their services (those not yet opened hold no containers). */
  async all(): Promise<Map<string, PodServices>> {
    const out = new Map<string, PodServices>();
    for (const [name, services] of this.opened) out.set(name, await services);
    return out;
  }

  /** Namespaces with any records on disk (images, sandboxes, containers), whether opened or not. */
  onDisk(): Promise<string[]> {
    return dirEntries(path.join(this.config.root, 'metadata')).then((names) => names.filter((n) => !RESERVED.has(n)));
  }

  /** The services opened so far, for synchronous callers (image GC, metrics). */
  loaded(): PodServices[] {
    return [...this.settled.values()];
  }
}

async function dirEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
