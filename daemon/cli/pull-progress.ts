import type { LayerProgress__Output } from '../../proto/gen/berth/v1/LayerProgress.js';
import { formatBytes, shortDigest } from './table.js';

const BAR_WIDTH = 30;

interface Seen {
  status: string;
  bytes: number;
  /** Recent samples for the speed: [time ms, bytes]. */
  samples: [number, number][];
}

/**
 * Shows a pull's blobs. On a terminal: one redrawn line per blob with a bar, bytes and speed. Otherwise (a pipe,
 * a log, CI): one plain line each time a blob changes status, so the output is readable after the fact.
 */
export class PullProgressView {
  private readonly seen = new Map<string, Seen>();
  private drawnLines = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  update(layers: readonly LayerProgress__Output[]): void {
    const at = this.now();
    const changed: LayerProgress__Output[] = [];
    for (const layer of layers) {
      const bytes = Number(layer.downloaded);
      const seen = this.seen.get(layer.digest);
      if (seen === undefined) {
        this.seen.set(layer.digest, { status: layer.status, bytes, samples: [[at, bytes]] });
        changed.push(layer);
        continue;
      }
      if (seen.status !== layer.status) changed.push(layer);
      seen.status = layer.status;
      seen.bytes = bytes;
      seen.samples.push([at, bytes]);
      // A few seconds of samples smooth the speed without hiding a stall.
      while (seen.samples.length > 2 && at - (seen.samples[0] as [number, number])[0] > 3000) seen.samples.shift();
    }
    if (this.tty) this.redraw(layers);
    else for (const layer of changed) this.out.write(`${layer.digest} ${layer.media_type} ${layer.status} ${bytesOf(layer)}\n`);
  }

  private redraw(layers: readonly LayerProgress__Output[]): void {
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : '';
    for (const layer of layers) text += `\x1b[2K${this.line(layer)}\n`;
    this.drawnLines = layers.length;
    this.out.write(text);
  }

  private line(layer: LayerProgress__Output): string {
    const size = Number(layer.size);
    const done = Number(layer.downloaded);
    const fraction = size > 0 ? Math.min(1, done / size) : 1;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = `[${'='.repeat(filled)}${filled < BAR_WIDTH ? '>' : ''}${' '.repeat(Math.max(0, BAR_WIDTH - filled - 1))}]`;
    const speed = layer.status === 'downloading' ? `  ${formatBytes(Math.round(this.speed(layer.digest)))}/s` : '';
    return `${shortDigest(layer.digest)}  ${bar}  ${bytesOf(layer).padEnd(24)}${layer.status}${speed}`;
  }

  /** Bytes per second over the recent samples. */
  private speed(digest: string): number {
    const samples = this.seen.get(digest)?.samples ?? [];
    const first = samples[0];
    const last = samples.at(-1);
    if (first === undefined || last === undefined || last[0] <= first[0]) return 0;
    return ((last[1] - first[1]) * 1000) / (last[0] - first[0]);
  }
}

function bytesOf(layer: LayerProgress__Output): string {
  return `${formatBytes(Number(layer.downloaded))} / ${formatBytes(Number(layer.size))}`;
}
