import { isBerthError } from '../errors/errors.js';
import { imageGcChannel, imagePullChannel, type ImagePullEvent } from './channels.js';
import { CallbackGauge, Counter, Histogram, MetricsRegistry, type GaugeSample } from './registry.js';

/** Seconds; CRI calls range from sub-millisecond lookups to pulls and stops that take minutes. */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const PULL_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const CONTAINER_STATES = ['created', 'running', 'exited', 'unknown'] as const;

/** What the container service hands the containers gauge: anything with a CRI state name. */
export interface StatefulItem {
  state: string;
}

/**
 * berthd's metrics. The RPC wrapper records each call; pulls and GC runs arrive on diagnostics channels
 * (channels.ts); container and shim gauges are read at scrape time from callbacks the pod services register.
 */
export class DaemonMetrics {
  readonly registry = new MetricsRegistry();
  private readonly rpcTotal = this.registry.register(
    new Counter('berth_cri_requests_total', 'CRI calls completed, by method and gRPC status code.', ['method', 'code']),
  );
  private readonly rpcSeconds = this.registry.register(
    new Histogram('berth_cri_request_duration_seconds', 'Time to answer a CRI call, by method.', RPC_BUCKETS, ['method']),
  );
  private readonly pullsTotal = this.registry.register(new Counter('berth_image_pulls_total', 'Image pulls that succeeded.'));
  private readonly pullBytes = this.registry.register(new Counter('berth_image_pull_bytes_total', 'Bytes downloaded from registries by pulls.'));
  private readonly pullSeconds = this.registry.register(
    new Histogram('berth_image_pull_duration_seconds', 'Time an image pull took, successful or not.', PULL_BUCKETS),
  );
  private readonly pullFailures = this.registry.register(
    new Counter('berth_image_pull_failures_total', 'Image pulls that failed, by error kind.', ['reason']),
  );
  private readonly gcRuns = this.registry.register(new Counter('berth_image_gc_runs_total', 'Garbage collections of content and snapshots.'));
  private readonly reloads = this.registry.register(
    new Counter('berth_config_reloads_total', 'SIGHUP config reloads, by result (ok, error).', ['result']),
  );
  private containers: () => Iterable<StatefulItem> = () => [];
  /** Unset until the owner of the shim connections registers; the gauge has no sample rather than a false 0. */
  private shims: (() => number) | undefined;

  private readonly onPull = (message: unknown): void => {
    const event = message as ImagePullEvent;
    this.pullSeconds.observe([], event.durationMs / 1000);
    this.pullBytes.inc([], event.bytes);
    if (event.error === undefined) this.pullsTotal.inc();
    else this.pullFailures.inc([isBerthError(event.error) ? event.error.kind : 'Internal']);
  };
  private readonly onGc = (): void => this.gcRuns.inc();

  constructor() {
    this.registry.register(
      new CallbackGauge('berth_containers', 'Containers known to berth, by state.', ['state'], () => this.containerSamples()),
    );
    this.registry.register(
      new CallbackGauge('berth_shims', 'Running berth-shim processes berthd is connected to.', [], () =>
        this.shims === undefined ? [] : [{ labels: [], value: this.shims() }],
      ),
    );
    imagePullChannel.subscribe(this.onPull);
    imageGcChannel.subscribe(this.onGc);
  }

  /** Called by the CRI wrapper once per finished call; `code` is the gRPC status name (OK, NOT_FOUND, ...). */
  recordRpc(method: string, code: string, seconds: number): void {
    this.rpcTotal.inc([method, code]);
    this.rpcSeconds.observe([method], seconds);
  }

  recordReload(ok: boolean): void {
    this.reloads.inc([ok ? 'ok' : 'error']);
  }

  /** The container service registers its list; it is read at each scrape. */
  setContainerSource(list: () => Iterable<StatefulItem>): void {
    this.containers = list;
  }

  /** Whoever owns the shim connections registers their count; it is read at each scrape. */
  setShimCount(count: () => number): void {
    this.shims = count;
  }

  render(): string {
    return this.registry.render();
  }

  close(): void {
    imagePullChannel.unsubscribe(this.onPull);
    imageGcChannel.unsubscribe(this.onGc);
  }

  private containerSamples(): GaugeSample[] {
    const counts = new Map<string, number>(CONTAINER_STATES.map((state) => [state, 0]));
    for (const { state } of this.containers()) {
      // CRI names (CONTAINER_RUNNING) become the label values Prometheus users expect (running).
      const label = state.replace(/^CONTAINER_/, '').toLowerCase();
      counts.set(label, (counts.get(label) ?? 0) + 1);
    }
    return [...counts].map(([state, value]) => ({ labels: [state], value }));
  }
}
