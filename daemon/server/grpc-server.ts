import { chmod, chown, lstat, unlink } from 'node:fs/promises';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { BerthConfig } from '../../config/types.js';
import { BERTH_SERVICES, loadBerthPackage } from '../../proto/berth-proto.js';
import { loadCriPackage } from '../../proto/cri-proto.js';
import { berthRpcs } from '../api/rpcs.js';
import type { CriContext } from '../cri/context.js';
import { imageRpcs } from '../cri/image/rpcs.js';
import { runtimeListFields, runtimeRpcs } from '../cri/runtime/rpcs.js';
import { BerthError } from '../errors/errors.js';
import { implementService, SHUTDOWN_REASON, type CriDispatch } from './cri-service.js';
import { cacheItemEncodings } from './list-encoding.js';

const SOCKET_MODE = 0o660;
/** Held while the socket file is created, so it is never open to other users, not even before the chmod. */
const SOCKET_UMASK = 0o117;
/** In-flight RPCs get this long to finish on shutdown before their streams are cut. */
const SHUTDOWN_GRACE_MS = 5000;

/** A socket left by a daemon that crashed is removed; anything else at that path is not ours to delete. */
async function removeStaleSocket(address: string): Promise<void> {
  try {
    const stat = await lstat(address);
    if (!stat.isSocket()) {
      throw new BerthError(
        'FailedPrecondition',
        `[grpc] address ${address} exists and is not a socket; remove it or choose another address`,
      );
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  await unlink(address);
}

function bind(server: Server, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The umask is process-wide; serveCri runs before any service starts, so no other file is created now.
    const previous = process.umask(SOCKET_UMASK);
    server.bindAsync(`unix:${address}`, ServerCredentials.createInsecure(), (err) => {
      process.umask(previous);
      if (err) reject(new BerthError('Unavailable', `cannot listen on [grpc] address ${address}: ${err.message}`));
      else resolve();
    });
  });
}

export interface CriServer {
  /** Starts serving RPCs with `ctx`; calls that arrived earlier have been waiting for it. */
  activate(ctx: CriContext): void;
  /** Stops accepting, ends in-flight RPCs (bounded grace), and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves runtime.v1 RuntimeService and ImageService, and berth.v1 (daemon/api/), on the unix socket `[grpc] address`. The socket is bound
 * before any service starts, because the umask held during the bind is process-wide and would also apply to
 * whatever files a starting service created at that moment.
 */
export async function serveCri(config: BerthConfig): Promise<CriServer> {
  const { address, gid } = config.grpc;
  const cri = loadCriPackage();
  let activate: (ctx: CriContext) => void = () => undefined;
  const ready = new Promise<CriContext>((resolve) => (activate = resolve));
  const stopping = new AbortController();
  const dispatch: CriDispatch = { ready, stopping: stopping.signal };
  const server = new Server({
    'grpc.max_receive_message_length': config.grpc.max_recv_message_size,
    'grpc.max_send_message_length': config.grpc.max_send_message_size,
  });
  const runtimeService = cacheItemEncodings(cri.RuntimeService.service, runtimeListFields);
  server.addService(runtimeService, implementService('runtime.v1.RuntimeService', runtimeService, runtimeRpcs, dispatch));
  server.addService(
    cri.ImageService.service,
    implementService('runtime.v1.ImageService', cri.ImageService.service, imageRpcs, dispatch),
  );
  // berth's own API (berthctl) on the same socket.
  const berth = loadBerthPackage();
  for (const name of BERTH_SERVICES) {
    server.addService(berth[name].service, implementService(`berth.v1.${name}`, berth[name].service, berthRpcs[name], dispatch));
  }

  await removeStaleSocket(address);
  await bind(server, address);
  await chown(address, process.getuid?.() ?? 0, gid);
  await chmod(address, SOCKET_MODE);

  return {
    activate,
    close: async () => {
      stopping.abort(SHUTDOWN_REASON);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await unlink(address).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
    },
  };
}
