import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ConfigHolder } from '../../config/config-holder.js';
import type { BerthConfig } from '../../config/types.js';
import type { CriContext } from '../cri/context.js';
import type { Logger } from '../logging/logger.js';
import { DaemonMetrics } from '../metrics/daemon-metrics.js';
import { serveMetrics, type MetricsServer } from '../metrics/metrics-server.js';
import { buildCriContext } from './cri-context.js';
import { serveCri } from './grpc-server.js';
import { InstanceLock } from './instance-lock.js';
import { logPreflight, runPreflight } from '../preflight/preflight.js';

export interface RunningDaemon {
  /** The config in force; a reload replaces what it holds. */
  readonly config: ConfigHolder;
  readonly metrics: DaemonMetrics;
  /** Applies a new config's reloadable keys (see server/reload.ts for the SIGHUP side). */
  applyConfig(next: BerthConfig): Promise<void>;
  /** Graceful stop: no new RPCs, in-flight ones finish (bounded), socket removed, locks released. */
  stop(): Promise<void>;
}

/** root holds image content and metadata: only root may read it. state must stay traversable for containers. */
const ROOT_MODE = 0o700;
const STATE_MODE = 0o711;

async function ensureDir(path: string, mode: number): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  // mkdir leaves an existing directory's mode alone, and the umask trims a new one; set it either way.
  await chmod(path, mode);
}

/**
 * The metrics endpoint follows `[metrics] address`: started when set, moved or stopped when a reload changes
 * it. A reload that names a busy address fails that step only; the old endpoint is gone and the error says so.
 */
class MetricsEndpoint {
  private server: MetricsServer | undefined;

  constructor(
    private readonly metrics: DaemonMetrics,
    private readonly logger: Logger,
  ) {}

  async follow(address: string): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    if (address === '') return;
    this.server = await serveMetrics(address, () => this.metrics.render(), this.logger);
    this.logger.info({ address: this.server.address }, 'serving metrics at /metrics');
  }

  close(): Promise<void> | undefined {
    return this.server?.close();
  }
}

/**
 * Brings berthd up: directories, the single-instance locks, the CRI services, the socket. Two daemons on one
 * root or one socket would corrupt each other's state, so each is guarded by its own lock, taken before the
 * stale socket of a crashed predecessor is removed.
 */
export async function startDaemon(config: BerthConfig, configSource: string, logger: Logger): Promise<RunningDaemon> {
  await ensureDir(config.root, ROOT_MODE);
  await ensureDir(config.state, STATE_MODE);
  // Usually inside state already; an operator may put the socket elsewhere (its lock file lives beside it).
  await mkdir(dirname(config.grpc.address), { recursive: true, mode: STATE_MODE });
  const locks: InstanceLock[] = [];
  const holder = new ConfigHolder(config);
  const metrics = new DaemonMetrics();
  const endpoint = new MetricsEndpoint(metrics, logger.child({ component: 'metrics' }));
  try {
    locks.push(InstanceLock.acquire(join(config.root, 'berthd.lock'), `root ${config.root}`));
    locks.push(InstanceLock.acquire(`${config.grpc.address}.lock`, `socket ${config.grpc.address}`));
    const server = await serveCri(config);
    let ctx: CriContext | undefined;
    try {
      ctx = await buildCriContext(holder, configSource, logger, metrics);
      logPreflight(await runPreflight(config, ctx.network), logger.child({ component: 'preflight' }));
      await endpoint.follow(config.metrics.address);
      // Last: once calls run, the harness and systemd consider berthd up and may signal it at once.
      server.activate(ctx);
    } catch (err) {
      await server.close();
      await ctx?.streaming.close();
      await ctx?.namespaces.close();
      throw err;
    }
    // Closures below need a binding that stays narrowed.
    const running = ctx;
    logger.info({ address: config.grpc.address, root: config.root, state: config.state, configSource }, 'berthd serving CRI');
    return {
      config: holder,
      metrics,
      applyConfig: async (next) => {
        const previous = holder.current();
        holder.replace(next);
        // Child loggers without a level of their own follow the root's, so this reaches every component.
        logger.level = next.log.level;
        if (next.metrics.address !== previous.metrics.address) await endpoint.follow(next.metrics.address);
      },
      stop: async () => {
        await server.close();
        // After the RPCs: no new URLs; open sessions end and release their execs.
        await running.streaming.close();
        await running.namespaces.close();
        running.images.close();
        await endpoint.close();
        metrics.close();
        for (const lock of locks) lock.release();
        logger.info('berthd stopped');
      },
    };
  } catch (err) {
    await endpoint.close();
    metrics.close();
    for (const lock of locks) lock.release();
    throw err;
  }
}
