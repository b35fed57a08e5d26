import { performance } from 'node:perf_hooks';
import {
  status as GrpcStatus,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { CriContext } from '../cri/context.js';
import type { CallInfo, ServerStreamHandler, UnaryHandler } from '../cri/handler.js';
import { toGrpcFailure } from '../errors/grpc-status.js';

type AnyUnary = UnaryHandler<unknown, unknown>;
type AnyStream = ServerStreamHandler<unknown, unknown>;
type Call = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

function callInfo(call: Call, method: string, ctx: CriContext): CallInfo {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new Error(`${method} was cancelled by the client`)));
  return { method, signal: controller.signal, logger: ctx.logger.child({ rpc: method }) };
}

function logOutcome(info: CallInfo, started: number, err?: unknown): { code: GrpcStatus; details: string } | undefined {
  const ms = Math.round(performance.now() - started);
  if (err === undefined) {
    info.logger.debug({ ms }, 'rpc ok');
    return undefined;
  }
  const failure = toGrpcFailure(err);
  // Caller mistakes and expected misses (NotFound for a removed container) are routine for kubelet.
  if (failure.internal) info.logger.error({ ms, err }, 'rpc failed');
  else info.logger.debug({ ms, code: GrpcStatus[failure.code], details: failure.details }, 'rpc refused');
  return { code: failure.code, details: failure.details };
}

function unary(handler: AnyUnary, method: string, ctx: CriContext) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    const info = callInfo(call, method, ctx);
    const started = performance.now();
    handler(call.request, ctx, info).then(
      (response) => {
        logOutcome(info, started);
        callback(null, response);
      },
      (err: unknown) => callback(logOutcome(info, started, err) ?? null),
    );
  };
}

function serverStream(handler: AnyStream, method: string, ctx: CriContext) {
  return (call: ServerWritableStream<unknown, unknown>): void => {
    const info = callInfo(call, method, ctx);
    const started = performance.now();
    const sink = {
      write: (message: unknown) =>
        new Promise<void>((resolve, reject) => {
          if (call.cancelled) {
            reject(new Error(`${method}: the client went away`));
            return;
          }
          call.write(message, (err: Error | null | undefined) => (err ? reject(err) : resolve()));
        }),
    };
    handler(call.request, ctx, sink, info).then(
      () => {
        logOutcome(info, started);
        call.end();
      },
      (err: unknown) => {
        if (call.cancelled) return;
        call.emit('error', logOutcome(info, started, err));
      },
    );
  };
}

function unimplemented(method: string, streaming: boolean) {
  const refusal = { code: GrpcStatus.UNIMPLEMENTED, details: `berth does not implement ${method} yet` };
  if (streaming) return (call: ServerWritableStream<unknown, unknown>): void => void call.emit('error', refusal);
  return (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => callback(refusal);
}

/**
 * Builds a grpc-js implementation for every method of `definition`: table entries are wrapped with
 * cancellation, logging and error mapping; methods without an entry answer UNIMPLEMENTED by name, so a
 * kubelet feature probe gets a clear answer instead of a hang.
 */
export function implementService(
  serviceName: string,
  definition: ServiceDefinition,
  table: Readonly<Record<string, unknown>>,
  ctx: CriContext,
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const [name, methodDefinition] of Object.entries(definition)) {
    const method = `${serviceName}/${name}`;
    const handler = table[name];
    const streaming = methodDefinition.responseStream;
    if (handler === undefined) implementation[name] = unimplemented(method, streaming);
    else if (streaming) implementation[name] = serverStream(handler as AnyStream, method, ctx);
    else implementation[name] = unary(handler as AnyUnary, method, ctx);
  }
  return implementation;
}
