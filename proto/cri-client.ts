import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { ImageServiceDefinition } from './gen/runtime/v1/ImageService.js';
import type { RuntimeServiceDefinition } from './gen/runtime/v1/RuntimeService.js';
import { loadCriPackage, type MethodNames } from './cri-proto.js';

/** The server-streaming RPCs of runtime.v1; every other RPC is unary (a unit test holds this to the proto). */
export const STREAMING_RPCS = [
  'StreamPodSandboxes',
  'StreamContainers',
  'StreamContainerStats',
  'StreamPodSandboxStats',
  'StreamPodSandboxMetrics',
  'GetContainerEvents',
  'StreamImages',
] as const;
type StreamingRpc = (typeof STREAMING_RPCS)[number];

export interface CallOptions {
  /** Milliseconds before the call fails with DEADLINE_EXCEEDED; none by default. */
  timeoutMs?: number;
}

/** A client whose unary methods return promises and whose `Streaming` methods return the grpc-js stream. */
export type Promisified<Def, Streaming extends string = StreamingRpc> = {
  [K in Exclude<MethodNames<Def>, Streaming>]: Def[K] extends MethodDefinition<infer Req, infer _Res, infer _ReqOut, infer ResOut>
    ? (request: Req, options?: CallOptions) => Promise<ResOut>
    : never;
} & {
  [K in Extract<MethodNames<Def>, Streaming>]: Def[K] extends MethodDefinition<infer Req, infer _Res, infer _ReqOut, infer ResOut>
    ? (request: Req, options?: CallOptions) => grpc.ClientReadableStream<ResOut>
    : never;
};

/** runtime.v1.RuntimeService with promise-returning unary methods (`await runtime.Version({})`). */
export type RuntimeClient = Promisified<RuntimeServiceDefinition>;
/** runtime.v1.ImageService with promise-returning unary methods. */
export type ImageClient = Promisified<ImageServiceDefinition>;

export interface CriClients {
  runtime: RuntimeClient;
  image: ImageClient;
  close(): void;
}

const deadline = (options?: CallOptions): grpc.CallOptions =>
  options?.timeoutMs === undefined ? {} : { deadline: Date.now() + options.timeoutMs };

/** Wraps a grpc-js client: each unary method returns a promise, each server-streaming method its stream. */
export function promisify<Def, Streaming extends string = StreamingRpc>(client: grpc.Client, definition: grpc.ServiceDefinition): Promisified<Def, Streaming> {
  const wrapped: Record<string, unknown> = {};
  const untyped = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const [name, method] of Object.entries(definition)) {
    const call = (untyped[name] as (...args: unknown[]) => unknown).bind(client);
    wrapped[name] = method.responseStream
      ? (request: unknown, options?: CallOptions) => call(request, deadline(options))
      : (request: unknown, options?: CallOptions) =>
          new Promise((resolve, reject) => {
            call(request, deadline(options), (err: grpc.ServiceError | null, response: unknown) =>
              err ? reject(err) : resolve(response),
            );
          });
  }
  return wrapped as Promisified<Def, Streaming>;
}

/**
 * CRI clients on a unix socket, for tests, benchmarks and tools. `channelOptions` are grpc-js channel
 * options (e.g. a short 'grpc.initial_reconnect_backoff_ms' for a client that races the daemon's start). Responses follow the loader's conventions
 * (proto/README.md): snake_case fields, int64 as decimal strings, enums as names.
 */
export function connectCri(socketPath: string, channelOptions: grpc.ChannelOptions = {}): CriClients {
  const cri = loadCriPackage();
  const target = `unix:${socketPath}`;
  const credentials = grpc.credentials.createInsecure();
  // Large image lists and container lists exceed grpc-js's 4 MiB receive default.
  const options = { 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...channelOptions };
  const runtimeClient = new cri.RuntimeService(target, credentials, options);
  const imageClient = new cri.ImageService(target, credentials, options);
  return {
    runtime: promisify<RuntimeServiceDefinition>(runtimeClient, cri.RuntimeService.service),
    image: promisify<ImageServiceDefinition>(imageClient, cri.ImageService.service),
    close: () => {
      runtimeClient.close();
      imageClient.close();
    },
  };
}
