import type { LayerProgress } from '../../proto/gen/berth/v1/LayerProgress.js';
import { invalidArgument } from '../errors/errors.js';
import type { BlobProgress } from '../images/pull.js';
import type { BerthRpc } from './handler.js';
import { berthImage } from './image-view.js';
import { requestNamespace } from './namespace.js';

/** A progress message at most this often: a terminal redraws smoothly and a fast pull is not slowed by writes. */
const PROGRESS_INTERVAL_MS = 100;

const layer = (b: BlobProgress): LayerProgress => ({ digest: b.digest, media_type: b.mediaType, size: b.size, downloaded: b.downloaded, status: b.status });

/**
 * Pulls into the request's namespace, streaming every blob's progress (coalesced: the newest state every
 * PROGRESS_INTERVAL_MS, and always the final one); the last message carries the image.
 */
export const pullImage: BerthRpc<'Images', 'Pull'> = async (request, ctx, sink, call) => {
  const namespace = requestNamespace(request);
  if (request.reference === '') throw invalidArgument('image pull needs a reference, e.g. docker.io/library/busybox:latest');
  let latest: readonly BlobProgress[] = [];
  let sent: readonly BlobProgress[] | undefined;
  // One write in flight at a time; a client slower than the pull sees fewer, newer snapshots.
  let writing: Promise<void> = Promise.resolve();
  const flush = (): void => {
    if (latest === sent) return;
    sent = latest;
    const message = { layers: sent.map(layer) };
    writing = writing.then(() => sink.write(message));
  };
  const timer = setInterval(flush, PROGRESS_INTERVAL_MS);
  try {
    const pulled = ctx.images.pull(namespace, request.reference, { onProgress: (blobs) => (latest = blobs) });
    // The pull goes on for whoever else joined it; this call only stops waiting.
    const cancelled = new Promise<never>((_resolve, reject) => call.signal.addEventListener('abort', () => reject(call.signal.reason), { once: true }));
    cancelled.catch(() => undefined);
    const record = await Promise.race([pulled, cancelled]);
    clearInterval(timer);
    flush();
    await writing;
    const view = ctx.images.resolve(namespace, record.name);
    await sink.write({ layers: latest.map(layer), image: view === undefined ? null : berthImage(view) });
  } finally {
    clearInterval(timer);
    // A failed write is reported by the await above; this one only keeps it from going unhandled.
    writing.catch(() => undefined);
  }
};
