import type * as grpc from '@grpc/grpc-js';
import type { ImageServiceHandlers } from '../../proto/gen/runtime/v1/ImageService.js';
import type { RuntimeServiceHandlers } from '../../proto/gen/runtime/v1/RuntimeService.js';
import type { MethodNames } from '../../proto/cri-proto.js';
import type { Logger } from '../logging/logger.js';
import type { CriContext } from './context.js';

/** Per-call facts a handler may need beyond its request. */
export interface CallInfo {
  /** "runtime.v1.RuntimeService/Version". */
  readonly method: string;
  /** Aborted when the client cancels or its deadline passes; long operations (pulls, stops) should honour it. */
  readonly signal: AbortSignal;
  /** The context logger bound to this RPC. */
  readonly logger: Logger;
}

/**
 * A unary RPC: decoded request in, response out. Throw a BerthError to fail with a specific gRPC code; any
 * other error becomes INTERNAL (daemon/errors/grpc-status.ts). Requests arrive with proto3 defaults filled,
 * int64 fields as decimal strings and enums as names (proto/README.md).
 */
export type UnaryHandler<Req, Res> = (request: Req, ctx: CriContext, call: CallInfo) => Promise<Res>;

/** Where a server-streaming handler writes; `write` resolves once the transport accepted the message. */
export interface ResponseSink<Res> {
  write(message: Res): Promise<void>;
}

/** A server-streaming RPC; the stream ends when the returned promise settles. */
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  ctx: CriContext,
  sink: ResponseSink<Res>,
  call: CallInfo,
) => Promise<void>;

/** Streaming is checked first: a one-argument streaming signature would also match the unary one. */
type HandlerFor<H> =
  H extends grpc.handleServerStreamingCall<infer Req, infer Res>
    ? ServerStreamHandler<Req, Res>
    : H extends grpc.handleUnaryCall<infer Req, infer Res>
      ? UnaryHandler<Req, Res>
      : never;

/** A service's implemented RPCs; whatever is missing answers UNIMPLEMENTED. */
export type RpcTable<Handlers> = { [K in MethodNames<Handlers>]?: HandlerFor<Handlers[K]> };
export type RuntimeRpcTable = RpcTable<RuntimeServiceHandlers>;
export type ImageRpcTable = RpcTable<ImageServiceHandlers>;

/** The type of one RPC's handler, e.g. `export const version: RuntimeRpc<'Version'> = async (request, ctx) => ...`. */
export type RuntimeRpc<K extends keyof RuntimeRpcTable> = NonNullable<RuntimeRpcTable[K]>;
export type ImageRpc<K extends keyof ImageRpcTable> = NonNullable<ImageRpcTable[K]>;
