import diagnostics from 'node:diagnostics_channel';

/**
 * Events services publish for the metrics endpoint (and any other observer), so the image service needs no
 * reference to the metrics registry and pays nothing when no one listens: publish behind `hasSubscribers`.
 *
 *   if (imagePullChannel.hasSubscribers) imagePullChannel.publish({ ... } satisfies ImagePullEvent);
 */

/** One finished pull (joined pulls of the same name publish once). */
export interface ImagePullEvent {
  /** Bytes downloaded from registries for this pull (layers already present count 0). */
  bytes: number;
  durationMs: number;
  /** Set when the pull failed; its BerthError kind becomes the failure reason label. */
  error?: unknown;
}
export const imagePullChannel = diagnostics.channel('berth:images:pull');

/** One garbage collection run of content and snapshots. */
export interface ImageGcEvent {
  blobsRemoved: number;
  snapshotsRemoved: number;
}
export const imageGcChannel = diagnostics.channel('berth:images:gc');
