import { status as GrpcStatus } from '@grpc/grpc-js';
import { BerthError, type ErrorKind } from './errors.js';

/** The one mapping from error kinds to gRPC codes; kubelet branches on these codes. */
const CODE_OF_KIND: Readonly<Record<ErrorKind, GrpcStatus>> = {
  NotFound: GrpcStatus.NOT_FOUND,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  Unavailable: GrpcStatus.UNAVAILABLE,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  DataLoss: GrpcStatus.DATA_LOSS,
  Internal: GrpcStatus.INTERNAL,
};

export interface GrpcFailure {
  code: GrpcStatus;
  details: string;
  /** True when the failure is berth's fault rather than the caller's, so it deserves an error log line. */
  internal: boolean;
}

/**
 * Turns anything a handler threw into the status the client sees. A BerthError keeps its kind and message;
 * anything else is a bug or an unexpected system failure and becomes INTERNAL with its message.
 */
export function toGrpcFailure(err: unknown): GrpcFailure {
  if (err instanceof BerthError) {
    const code = CODE_OF_KIND[err.kind];
    const internal = err.kind === 'Internal' || err.kind === 'DataLoss';
    return { code, details: err.message, internal };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcStatus.INTERNAL, details: `internal error: ${message}`, internal: true };
}
