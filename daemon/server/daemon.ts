import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BerthConfig } from '../../config/types.js';
import type { Logger } from '../logging/logger.js';
import { buildCriContext } from './cri-context.js';
import { serveCri } from './grpc-server.js';
import { InstanceLock } from './instance-lock.js';

export interface RunningDaemon {
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
  try {
    locks.push(InstanceLock.acquire(join(config.root, 'berthd.lock'), `root ${config.root}`));
    locks.push(InstanceLock.acquire(`${config.grpc.address}.lock`, `socket ${config.grpc.address}`));
    const server = await serveCri(config);
    try {
      server.activate(await buildCriContext(config, configSource, logger));
    } catch (err) {
      await server.close();
      throw err;
    }
    logger.info({ address: config.grpc.address, root: config.root, state: config.state, configSource }, 'berthd serving CRI');
    return {
      stop: async () => {
        await server.close();
        for (const lock of locks) lock.release();
        logger.info('berthd stopped');
      },
    };
  } catch (err) {
    for (const lock of locks) lock.release();
    throw err;
  }
}
