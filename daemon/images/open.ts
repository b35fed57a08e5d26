import { join } from 'node:path';
import type { ConfigHolder } from '../../config/config-holder.js';
import type { BerthConfig } from '../../config/types.js';
import { parseDuration } from '../../config/duration.js';
import { applyLayer } from '../../snapshotter/apply-layer.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import type { ContentStore } from '../content/content-store.js';
import type { Logger } from '../logging/logger.js';
import { DistributionClient } from '../registry/distribution-client.js';
import { ImageService } from './image-service.js';

/** Where the daemon's snapshotter keeps its data, under the root: the image filesystem ImageFsInfo reports. */
export function snapshotsDir(config: BerthConfig): string {
  return join(config.root, 'snapshots');
}

/**
 * The image service as berthd runs it: registry client from [cri.registry], limits from [cri] and [images].
 * `[cri.registry] config_path` is reloadable: the registry client reads it from the holder at every request.
 */
export function openImageService(configHolder: ConfigHolder, logger: Logger, deps: { content: ContentStore; snapshotter: Snapshotter }): Promise<ImageService> {
  const config = configHolder.current();
  const log = logger.child({ component: 'images' });
  return ImageService.open({
    root: config.root,
    snapshotsDir: snapshotsDir(config),
    content: deps.content,
    snapshotter: deps.snapshotter,
    registry: new DistributionClient({
      get configPath() {
        return configHolder.current().cri.registry.config_path;
      },
      maxManifestBytes: config.images.max_manifest_bytes,
    }),
    applyLayer: (layer, target, options) => applyLayer(layer, target, { ...options, log }),
    pull: {
      maxConcurrentDownloads: config.cri.max_concurrent_downloads,
      // The config loader has validated the duration.
      progressTimeoutMs: parseDuration(config.cri.image_pull_progress_timeout) ?? 0,
      maxManifestBytes: config.images.max_manifest_bytes,
    },
    layers: { maxUnpackedBytes: config.images.max_layer_unpacked_bytes, maxEntries: config.images.max_layer_entries },
    logger,
  });
}
