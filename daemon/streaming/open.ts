import net from 'node:net';
import { parseDuration } from '../../config/duration.js';
import type { BerthConfig } from '../../config/types.js';
import type { ContainerService } from '../container/container-service.js';
import { BerthError, failedPrecondition } from '../errors/errors.js';
import { NetnsDialer } from '../linux/netns-dialer.js';
import type { Logger } from '../logging/logger.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { PortDialer } from './port-forward.js';
import { ShimProcesses } from './shim-processes.js';
import { StreamingServer } from './streaming-server.js';

/** kubelet's own streaming server gives clients 30 s to open their streams. */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

/** Connects to localhost:port on the host, for pods on the host network. */
function dialHost(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      reject(new BerthError(err.code === 'ECONNREFUSED' ? 'Unavailable' : 'Internal', `connect(localhost:${port}) failed: ${err.code ?? err.message}`, { cause: err })),
    );
  });
}

/** The streaming server as berthd runs it: exec and attach through the shims, port-forward into pod netns pins. */
export async function openStreamingServer(
  config: BerthConfig,
  logger: Logger,
  deps: { containers: ContainerService; sandboxes: SandboxService },
): Promise<StreamingServer> {
  const log = logger.child({ component: 'streaming' });
  const dialer = new NetnsDialer();
  const dial: PortDialer = async (podId, port) => {
    const pod = deps.sandboxes.get(podId);
    if (pod.state !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${pod.id} is not ready; port-forward needs a running pod`);
    return pod.pins.net === undefined ? dialHost(port) : dialer.dial(pod.pins.net, port);
  };
  const { cri } = config;
  const tls = cri.stream_tls_cert_file !== '' && cri.stream_tls_key_file !== '' ? { certFile: cri.stream_tls_cert_file, keyFile: cri.stream_tls_key_file } : undefined;
  const server = await StreamingServer.start({
    address: cri.stream_server_address,
    port: cri.stream_server_port,
    ...(tls === undefined ? {} : { tls }),
    tokenTtlMs: parseDuration(cri.stream_token_ttl) ?? 60_000,
    idleTimeoutMs: parseDuration(cri.stream_idle_timeout) ?? 0,
    creationTimeoutMs: STREAM_CREATION_TIMEOUT_MS,
    runtime: new ShimProcesses(deps.containers, log),
    dial,
    release: () => dialer.close(),
    logger: log,
  });
  logger.info({ url: server.url }, 'streaming server (exec, attach, port-forward) listening');
  return server;
}
