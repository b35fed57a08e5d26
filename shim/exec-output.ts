/**
 * Collects an exec's stdout and stderr under one shared byte budget. Output past the budget is still read
 * (a writer blocked on a full pipe would never exit) but dropped, and the result is flagged as truncated.
 */
export class CappedOutput {
  private readonly chunks: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
  private remaining: number;
  truncated = false;

  constructor(capBytes: number) {
    this.remaining = capBytes;
  }

  add(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    if (chunk.length > this.remaining) {
      this.truncated = true;
      chunk = chunk.subarray(0, this.remaining);
    }
    if (chunk.length === 0) return;
    this.remaining -= chunk.length;
    // Copy: a stream may reuse its buffer, and a kept slice would pin a larger one.
    this.chunks[stream].push(Buffer.from(chunk));
  }

  take(stream: 'stdout' | 'stderr'): Buffer {
    return Buffer.concat(this.chunks[stream]);
  }
}
