/**
 * A counting semaphore shared by every pull, so a node downloads at most `limit` layers at once however many
 * images kubelet pulls in parallel (cri.max_concurrent_downloads).
 */
export class DownloadLimiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`download limit must be a positive integer, got ${limit}`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `active` never drops and rises in between.
      if (next !== undefined) next();
      else this.active--;
    }
  }
}
