import type { ConfigHolder } from '../../config/config-holder.js';
import type { BerthConfig } from '../../config/types.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import type { ContainerService } from '../container/container-service.js';
import type { ContentStore } from '../content/content-store.js';
import type { EventBus } from '../events/event-bus.js';
import type { ImageService } from '../images/image-service.js';
import type { Logger } from '../logging/logger.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import type { PodNamespaces } from '../namespaces/pod-namespaces.js';
import type { DaemonMetrics } from '../metrics/daemon-metrics.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { StreamingServer } from '../streaming/streaming-server.js';
import type { NodeNetworkSettings } from './node-network.js';

/**
 * What every CRI handler may use. The gRPC layer translates and validates; the work is done by the services
 * here. A component that serves RPCs adds its service as one readonly field below and constructs it in
 * daemon/server/cri-context.ts (e.g. `readonly images: ImageService`).
 */
export interface CriContext {
  /** The config in force now: `configHolder.current()`, so a SIGHUP reload shows in the next call. */
  readonly config: BerthConfig;
  /** For services that read a reloadable key at use or react to reloads (config/reload-plan.ts lists them). */
  readonly configHolder: ConfigHolder;
  /** Counters and scrape-time gauges; services also publish on daemon/metrics/channels.ts. */
  readonly metrics: DaemonMetrics;
  /** Where the config came from (a file path or "built-in defaults"), for status output. */
  readonly configSource: string;
  readonly logger: Logger;
  readonly nodeNetwork: NodeNetworkSettings;
  /** Pod networking (CNI); Status reports its readiness. */
  readonly network: NetworkPlugin;
  /** Images per namespace (the CRI uses "k8s.io"): pull, resolve, remove; see daemon/images/. */
  readonly images: ImageService;
  /** Pod sandboxes: namespaces, network, shared files; see daemon/sandbox/. */
  readonly sandboxes: SandboxService;
  /** Containers of pods: create/start/stop/remove, exec, stats; see daemon/container/. */
  readonly containers: ContainerService;
  /** Exec, Attach and PortForward hand out single-use URLs on it; see daemon/streaming/. */
  readonly streaming: StreamingServer;
  /** Container and sandbox lifecycle events of every namespace (GetContainerEvents, berthctl); see daemon/events/. */
  readonly events: EventBus;
  /** Pod services per berth namespace; `sandboxes` and `containers` above are those of "k8s.io". */
  readonly namespaces: PodNamespaces;
  /** The snapshots under every image and container (berthctl snapshots ls). */
  readonly snapshotter: Snapshotter;
  /** Blobs by digest (berthctl content ls). */
  readonly content: ContentStore;
}
