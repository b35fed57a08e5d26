import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigHolder } from '../../config/config-holder.js';
import { defaultConfig } from '../../config/defaults.js';
import { connectCri, type CriClients } from '../../proto/cri-client.js';
import { loadCriPackage } from '../../proto/cri-proto.js';
import type { ContainerEventResponse__Output } from '../../proto/gen/runtime/v1/ContainerEventResponse.js';
import type { CriContext } from '../cri/context.js';
import type { RuntimeRpcTable } from '../cri/handler.js';
import { NodeNetworkSettings } from '../cri/node-network.js';
import { notFound } from '../errors/errors.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import type { ContainerService } from '../container/container-service.js';
import type { ContentStore } from '../content/content-store.js';
import { EventBus } from '../events/event-bus.js';
import type { PodNamespaces } from '../namespaces/pod-namespaces.js';
import type { ImageService } from '../images/image-service.js';
import { DaemonMetrics } from '../metrics/daemon-metrics.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import type { SandboxService } from '../sandbox/sandbox-service.js';
import type { StreamingServer } from '../streaming/streaming-server.js';
import { implementService, SHUTDOWN_REASON, type CriDispatch } from './cri-service.js';

/** A real grpc-js server on a temp socket, serving RuntimeService from a table the test supplies. */
describe('implementService', () => {
  let dir: string;
  let server: Server;
  let clients: CriClients;
  let activate: (ctx: CriContext) => void;
  let ready: Promise<CriContext>;
  let stopping: AbortController;

  const ctx: CriContext = {
    config: defaultConfig(),
    configHolder: new ConfigHolder(defaultConfig()),
    metrics: new DaemonMetrics(),
    configSource: 'test',
    logger: pino({ level: 'silent' }),
    nodeNetwork: new NodeNetworkSettings(),
    network: {} as NetworkPlugin,
    // These tests serve RuntimeService tables only; no handler here touches images.
    images: {} as ImageService,
    sandboxes: {} as SandboxService,
    containers: {} as ContainerService,
    events: new EventBus(),
    namespaces: {} as PodNamespaces,
    snapshotter: {} as Snapshotter,
    content: {} as ContentStore,
    streaming: {} as StreamingServer,
  };

  /** `started: false` leaves the services "starting" until the test calls activate(ctx). */
  async function serve(table: RuntimeRpcTable, started = true): Promise<void> {
    const cri = loadCriPackage();
    const dispatch: CriDispatch = { ready, stopping: stopping.signal };
    server = new Server();
    server.addService(cri.RuntimeService.service, implementService('runtime.v1.RuntimeService', cri.RuntimeService.service, table, dispatch));
    const socket = join(dir, 'cri.sock');
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    clients = connectCri(socket);
    if (started) activate(ctx);
  }

  const failure = (promise: Promise<unknown>): Promise<ServiceError> =>
    promise.then(
      () => {
        throw new Error('expected the call to fail');
      },
      (err: ServiceError) => err,
    );

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-cri-service-'));
    ready = new Promise((resolve) => (activate = resolve));
    stopping = new AbortController();
  });
  afterEach(async () => {
    clients.close();
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes the decoded request and returns the response', async () => {
    await serve({
      Status: async (request) => ({ info: { verbose: String(request.verbose) } }),
    });
    expect((await clients.runtime.Status({ verbose: true })).info).toEqual({ verbose: 'true' });
  });

  it('maps a BerthError to its code and anything else to INTERNAL', async () => {
    await serve({
      ContainerStatus: async (request) => {
        throw notFound(`container "${request.container_id}" not found`);
      },
      ListContainers: async () => {
        throw new TypeError('boom');
      },
    });
    const missing = await failure(clients.runtime.ContainerStatus({ container_id: 'abc' }));
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.details).toBe('container "abc" not found');
    const bug = await failure(clients.runtime.ListContainers({}));
    expect(bug.code).toBe(status.INTERNAL);
    expect(bug.details).toBe('internal error: boom');
    const scrape = ctx.metrics.render();
    expect(scrape).toContain('berth_cri_requests_total{method="runtime.v1.RuntimeService/ContainerStatus",code="NOT_FOUND"} 1');
    expect(scrape).toContain('berth_cri_requests_total{method="runtime.v1.RuntimeService/ListContainers",code="INTERNAL"} 1');
    expect(scrape).toMatch(/berth_cri_request_duration_seconds_count\{method="runtime.v1.RuntimeService\/ListContainers"\} 1/);
  });

  it('answers UNIMPLEMENTED by name for RPCs missing from the table, unary and streaming', async () => {
    await serve({});
    const unary = await failure(clients.runtime.ExecSync({}));
    expect(unary).toMatchObject({ code: status.UNIMPLEMENTED, details: 'berth does not implement runtime.v1.RuntimeService/ExecSync yet' });
    const stream = clients.runtime.GetContainerEvents({});
    const err = await new Promise<ServiceError>((resolve) => stream.on('error', resolve));
    expect(err.details).toBe('berth does not implement runtime.v1.RuntimeService/GetContainerEvents yet');
  });

  it('holds calls that arrive before the services started until they have', async () => {
    await serve({ Version: async () => ({ runtime_name: 'berth' }) }, false);
    let answered = false;
    const early = clients.runtime.Version({}).then((response) => {
      answered = true;
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(answered).toBe(false);
    activate(ctx);
    expect((await early).runtime_name).toBe('berth');
  });

  it('streams what a server-streaming handler writes, and ends it on shutdown', async () => {
    await serve({
      GetContainerEvents: async (_request, _ctx, sink, call) => {
        await sink.write({ container_id: 'a', container_event_type: 'CONTAINER_STARTED_EVENT', created_at: '1700000000000000001' });
        await new Promise((resolve) => call.signal.addEventListener('abort', resolve));
        expect(call.signal.reason).toBe(SHUTDOWN_REASON);
      },
    });
    const stream = clients.runtime.GetContainerEvents({});
    const events: ContainerEventResponse__Output[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('data', (event: ContainerEventResponse__Output) => {
        events.push(event);
        stopping.abort(SHUTDOWN_REASON);
      });
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    await ended;
    expect(events).toHaveLength(1);
    // int64 arrives as a decimal string, beyond 2^53 without loss.
    expect(events[0]).toMatchObject({ container_id: 'a', container_event_type: 'CONTAINER_STARTED_EVENT', created_at: '1700000000000000001' });
  });

  it('turns a failure caused by shutdown into UNAVAILABLE', async () => {
    await serve({
      Version: async (_request, _ctx, call) => {
        stopping.abort(SHUTDOWN_REASON);
        call.signal.throwIfAborted();
        return {};
      },
    });
    const err = await failure(clients.runtime.Version({}));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toContain('shutting down');
  });
});
