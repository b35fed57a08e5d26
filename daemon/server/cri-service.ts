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

/** How the handlers reach the daemon: the context once start-up has built it, and the shutdown signal. */
export interface CriDispatch {
  /**
   * Resolves when the services have started. The socket is bound earlier; a call that arrives in between
   * waits (within its own deadline) instead of failing, so a client never has to tell "up" from "ready".
   */
  readonly ready: Promise<CriContext>;
  /** Aborted when the daemon shuts down, so long calls and event streams end instead of holding it up. */
  readonly stopping: AbortSignal;
}
/** The abort reason of `stopping`; handlers see it as `call.signal.reason`. */
export const SHUTDOWN_REASON = new Error('berthd is shutting down');
const SHUTTING_DOWN = { code: GrpcStatus.UNAVAILABLE, details: 'berthd is shutting down; retry when it is back' };

/** A call's CallInfo plus what the server does at its end. */
interface ActiveCall extends CallInfo {
  /** Stops listening for cancellation; grpc-js also reports every call it has answered as 'cancelled'. */
  detach(): void;
}

function callInfo(call: Call, method: string, ctx: CriContext, stopping: AbortSignal): ActiveCall {
  const controller = new AbortController();
  const cancel = (): void => controller.abort(new Error(`${method} was cancelled by the client`));
  call.on('cancelled', cancel);
  // Built on first use: most calls (the List RPCs kubelet makes every second) never look at them, and the
  // combined signal and the child logger cost more CPU than such a call's own work.
  let signal: AbortSignal | undefined;
  let logger: CallInfo['logger'] | undefined;
  // Requests are not logged: PullImage carries registry credentials.
  return {
    method,
    get signal() {
      return (signal ??= AbortSignal.any([controller.signal, stopping]));
    },
    get logger() {
      return (logger ??= ctx.logger.child({ rpc: method }));
    },
    detach: () => call.removeListener('cancelled', cancel),
  };
}

/** Logs the call's end and records it in the metrics; returns the gRPC status for a failure. */
function finishCall(ctx: CriContext, info: ActiveCall, started: number, err?: unknown): { code: GrpcStatus; details: string } | undefined {
  info.detach();
  const elapsed = performance.now() - started;
  const ms = Math.round(elapsed);
  let outcome: { code: GrpcStatus; details: string } | undefined;
  if (err === undefined) {
    if (ctx.logger.isLevelEnabled('debug')) info.logger.debug({ ms }, 'rpc ok');
  } else if (info.signal.aborted && info.signal.reason === SHUTDOWN_REASON) {
    // A handler cut short by shutdown failed because of us, not because of the request; the client may retry.
    info.logger.info({ ms }, 'rpc ended by shutdown');
    outcome = SHUTTING_DOWN;
  } else {
    const failure = toGrpcFailure(err);
    // Caller mistakes and expected misses (NotFound for a removed container) are routine for kubelet.
    if (failure.internal) info.logger.error({ ms, err }, 'rpc failed');
    else info.logger.debug({ ms, code: GrpcStatus[failure.code], details: failure.details }, 'rpc refused');
    outcome = { code: failure.code, details: failure.details };
  }
  ctx.metrics.recordRpc(info.method, GrpcStatus[outcome?.code ?? GrpcStatus.OK], elapsed / 1000);
  return outcome;
}

function runUnary(
  call: ServerUnaryCall<unknown, unknown>,
  callback: sendUnaryData<unknown>,
  handler: AnyUnary,
  info: ActiveCall,
  ctx: CriContext,
): Promise<void> {
  const started = performance.now();
  return handler(call.request, ctx, info).then(
    (response) => {
      finishCall(ctx, info, started);
      callback(null, response);
    },
    (err: unknown) => callback(finishCall(ctx, info, started, err) ?? null),
  );
}

function runStream(call: ServerWritableStream<unknown, unknown>, handler: AnyStream, info: ActiveCall, ctx: CriContext): Promise<void> {
  const started = performance.now();
  const sink = {
    write: (message: unknown) =>
      new Promise<void>((resolve, reject) => {
        if (call.cancelled) {
          reject(new Error(`${info.method}: the client went away`));
          return;
        }
        call.write(message, (err: Error | null | undefined) => (err ? reject(err) : resolve()));
      }),
  };
  return handler(call.request, ctx, sink, info).then(
    () => {
      finishCall(ctx, info, started);
      call.end();
    },
    (err: unknown) => {
      // A stream whose client left has no one to tell; it counts as CANCELLED and is not logged as a failure.
      if (call.cancelled) ctx.metrics.recordRpc(info.method, 'CANCELLED', (performance.now() - started) / 1000);
      else call.emit('error', finishCall(ctx, info, started, err));
    },
  );
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
  dispatch: CriDispatch,
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const [name, methodDefinition] of Object.entries(definition)) {
    const method = `${serviceName}/${name}`;
    const handler = table[name];
    const streaming = methodDefinition.responseStream;
    const begin = (call: Call): Promise<[ActiveCall, CriContext]> =>
      dispatch.ready.then((ctx) => [callInfo(call, method, ctx, dispatch.stopping), ctx]);
    if (handler === undefined) {
      implementation[name] = unimplemented(method, streaming);
    } else if (streaming) {
      implementation[name] = (call: ServerWritableStream<unknown, unknown>): void =>
        void begin(call).then(([info, ctx]) => runStream(call, handler as AnyStream, info, ctx));
    } else {
      implementation[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void =>
        void begin(call).then(([info, ctx]) => runUnary(call, callback, handler as AnyUnary, info, ctx));
    }
  }
  return implementation;
}
