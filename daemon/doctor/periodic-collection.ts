import type { Logger } from '../logging/logger.js';
import { runDoctor, type DoctorDeps, type FindingKind } from './doctor.js';

/**
 * What the periodic collection removes: what nothing references and nobody can still want, the same as the
 * start-up sweep. Records without a bundle, damaged records, stray shims and unknown mounts are only reported
 * by `berthctl doctor`: they need an operator's judgement (or --fix).
 */
const COLLECTED: ReadonlySet<FindingKind> = new Set(['snapshot', 'bundle-without-metadata', 'netns-pin', 'runc-container']);

export interface PeriodicCollection {
  /** Runs one collection now (after the one under way, if any). */
  runNow(): Promise<void>;
  stop(): void;
}

/**
 * Every `intervalMs`, collects unreferenced content and snapshots (the image GC, which respects pull leases) and
 * the bundles, namespace pins and runtime containers no record names (creates under way are left alone), and
 * retries the recovery of containers reported unknown. Runs
 * never overlap; a failed run is logged and the next one comes on time. intervalMs 0: never on its own.
 */
export function startPeriodicCollection(d: DoctorDeps, intervalMs: number, logger: Logger): PeriodicCollection {
  let running: Promise<void> = Promise.resolve();
  const runNow = (): Promise<void> => {
    running = running.then(async () => {
      try {
        await d.images.collectGarbage();
        const found = await runDoctor(d, true, COLLECTED);
        // A shim that hung at start (reported unknown) may answer by now.
        for (const pods of (await d.namespaces()).values()) await pods.containers.recover(true);
        if (found.length > 0) logger.info({ removed: found.filter((f) => f.fixed).map((f) => `${f.kind} ${f.subject}`) }, 'periodic garbage collection');
      } catch (err) {
        logger.error({ err }, 'periodic garbage collection failed');
      }
    });
    return running;
  };
  const timer = intervalMs > 0 ? setInterval(() => void runNow(), intervalMs) : undefined;
  // The daemon's exit is not held up by the next run.
  timer?.unref();
  return { runNow, stop: () => clearInterval(timer) };
}
