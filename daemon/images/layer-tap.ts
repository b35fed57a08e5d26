import { PassThrough, type Readable } from 'node:stream';

/** Bytes the unpack branch may hold while its applier starts, before the download waits for it. */
const UNPACK_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * Unpacking a layer while it downloads. The unpacker says when it is ready for a layer (its parent is committed);
 * if that layer's download has not opened its registry stream yet, the stream is teed: one branch to the content
 * store's ingest, which verifies size and digest, one to the applier. The snapshot is committed only once the
 * ingest has verified the blob, so unverified bytes never become a committed layer.
 *
 * A layer whose download started earlier (downloads run ahead of unpacking), was already present, or joined
 * another pull's download is not teed: the unpacker reads it from the content store once downloaded. A layer is
 * never buffered whole: the unpack branch holds a few MiB, and a download waits for a slow applier.
 */
export class LayerTap {
  private wanted = false;
  private branch: PassThrough | undefined;
  private claimed: ((branch: Readable | undefined) => void) | undefined;

  /**
   * Wraps the registry stream of this layer's download (the content store's BlobSource): teed when the unpacker
   * already waits for the layer, passed through otherwise.
   */
  attach(source: Readable): Readable {
    if (!this.wanted || this.branch !== undefined) return source;
    const toStore = new PassThrough();
    const toUnpack = new PassThrough({ highWaterMark: UNPACK_BUFFER_BYTES });
    this.branch = toUnpack;
    const stop = (err: Error): void => {
      source.destroy(err);
      toStore.destroy(err);
      toUnpack.destroy(err);
    };
    source.on('error', stop);
    source.on('close', () => {
      if (!source.readableEnded) stop(new Error('the layer download stopped before its end'));
    });
    // The ingest gave up (wrong size, abort, disk error) and reports why; the applier must stop too. An applier
    // that fails merely stops reading: pipe() unhooks its branch and the blob still downloads, so that the pull
    // can report a blob that does not match its digest as such rather than as whatever unpacking it made of it.
    toStore.on('close', () => {
      if (!toStore.readableEnded) stop(new Error('the content store stopped reading the layer'));
    });
    source.pipe(toStore);
    source.pipe(toUnpack);
    this.claimed?.(toUnpack);
    return toStore;
  }

  /**
   * Called by the pull when the layer's parent is committed: the branch to unpack from, or undefined when the
   * layer is to be read from the content store once `downloaded` settles.
   */
  async claim(downloaded: Promise<void>): Promise<Readable | undefined> {
    this.wanted = true;
    if (this.branch !== undefined) return this.branch;
    const attached = new Promise<Readable | undefined>((resolve) => (this.claimed = resolve));
    // The download settles without calling attach when it started before this claim or needed no registry stream.
    const settled = downloaded.then(
      () => undefined,
      () => undefined,
    );
    return Promise.race([attached, settled]);
  }

  /** After the unpack (done, failed or found already done by another pull): what it did not read is discarded. */
  release(): void {
    this.branch?.resume();
  }
}
