/**
 * Aborts a pull that makes no progress: while at least one download is running, some bytes must arrive every
 * `timeoutMs` (cri.image_pull_progress_timeout). Time spent unpacking or queued behind other pulls' downloads
 * does not count, as in containerd.
 */
export class ProgressWatchdog {
  private activeDownloads = 0;
  private lastProgress = Date.now();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly controller: AbortController,
    private readonly onStall: () => Error,
  ) {
    if (timeoutMs <= 0) return; // 0 disables the timeout, as in containerd
    this.timer = setInterval(() => this.check(), Math.max(20, Math.min(1000, timeoutMs / 10)));
    this.timer.unref();
  }

  /** Runs one download; bytes it reports through the returned callback count as progress. */
  async track<T>(download: (onBytes: () => void) => Promise<T>): Promise<T> {
    this.activeDownloads++;
    if (this.activeDownloads === 1) this.lastProgress = Date.now();
    try {
      return await download(() => {
        this.lastProgress = Date.now();
      });
    } finally {
      this.activeDownloads--;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.activeDownloads === 0) {
      this.lastProgress = Date.now();
      return;
    }
    if (Date.now() - this.lastProgress >= this.timeoutMs) {
      this.stop();
      this.controller.abort(this.onStall());
    }
  }
}
