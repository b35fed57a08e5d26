import type { ConfigHolder } from '../../config/config-holder.js';
import { parseDuration } from '../../config/duration.js';
import { OverlaySnapshotter } from '../../snapshotter/overlay-snapshotter.js';
import { LocalContentStore } from '../content/local-content-store.js';
import type { CriContext } from '../cri/context.js';
import { allNamespaces } from '../doctor/doctor.js';
import { startPeriodicCollection } from '../doctor/periodic-collection.js';
import { NodeNetworkSettings } from '../cri/node-network.js';
import { openImageService, snapshotsDir } from '../images/open.js';
import type { Logger } from '../logging/logger.js';
import type { DaemonMetrics } from '../metrics/daemon-metrics.js';
import { CniNetworkPlugin, cniOptionsFromConfig } from '../network/cni/cni-plugin.js';
import { EventBus } from '../events/event-bus.js';
import { PodNamespaces } from '../namespaces/pod-namespaces.js';
import { openStreamingServer } from '../streaming/open.js';

/**
 * Constructs the services behind the CRI handlers. A component that adds a field to CriContext constructs
 * it here. It runs after the socket is bound; RPCs wait until it returns, so a service should finish
 * whatever must precede serving (recovery of its records) before returning, and nothing longer.
 */
export async function buildCriContext(configHolder: ConfigHolder, configSource: string, logger: Logger, metrics: DaemonMetrics): Promise<CriContext> {
  // Services are built from the config at start; the keys a reload may change are read from the holder at use.
  const config = configHolder.current();
  const content = await LocalContentStore.open(config.root);
  const snapshotter = await OverlaySnapshotter.open(snapshotsDir(config), { log: logger.child({ component: 'snapshotter' }) });
  const images = await openImageService(configHolder, logger, { content, snapshotter });
  // kubelet's UpdateRuntimeConfig sets the pod CIDR later; the plugin reads it at each pod's network setup.
  const nodeNetwork = new NodeNetworkSettings();
  const network = new CniNetworkPlugin(cniOptionsFromConfig(config, () => nodeNetwork.podCidr()));
  const events = new EventBus();
  const namespaces = await PodNamespaces.open(config, logger, { images, snapshotter, network, events });
  metrics.setContainerSource(() => namespaces.loaded().flatMap((pods) => pods.containers.list()));
  metrics.setShimCount(() => namespaces.loaded().reduce((n, pods) => n + pods.tasks.count(), 0));
  const gcLog = logger.child({ component: 'gc' });
  // The timer is unref'd: nothing to stop at shutdown. The config loader has validated the duration.
  startPeriodicCollection({ config, namespaces: () => allNamespaces(namespaces, gcLog), images, snapshotter, logger: gcLog }, parseDuration(config.images.gc_interval) ?? 0, gcLog);
  const streaming = await openStreamingServer(config, logger, namespaces.cri);
  return {
    get config() {
      return configHolder.current();
    },
    configHolder,
    metrics,
    configSource,
    logger: logger.child({ component: 'cri' }),
    nodeNetwork,
    network,
    images,
    snapshotter,
    content,
    events,
    namespaces,
    ...namespaces.cri,
    streaming,
  };
}
