/**
 * One error catalogue for the daemon. Every failure that can reach a client is a BerthError with a stable
 * kind; the gRPC layer maps kinds to status codes in one place (grpc-status.ts), so kubelet always sees
 * NotFound / AlreadyExists / FailedPrecondition where it expects them. Callers branch on `kind`, never on text.
 */
export type ErrorKind =
  | 'NotFound'
  | 'InvalidArgument'
  | 'AlreadyExists'
  | 'FailedPrecondition'
  | 'Unimplemented'
  | 'Unavailable'
  | 'DeadlineExceeded'
  | 'PermissionDenied'
  | 'Unauthenticated'
  | 'ResourceExhausted'
  | 'DataLoss'
  | 'Internal';

export class BerthError extends Error {
  readonly kind: ErrorKind;
  /** Structured context (ids, paths, digests) for logs; the message already names the object and the fix. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(kind: ErrorKind, message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `BerthError(${kind})`;
    this.kind = kind;
    this.context = options.context ?? {};
  }
}

export const notFound = (message: string, context?: Record<string, unknown>): BerthError =>
  new BerthError('NotFound', message, { context });
export const invalidArgument = (message: string, context?: Record<string, unknown>): BerthError =>
  new BerthError('InvalidArgument', message, { context });
export const alreadyExists = (message: string, context?: Record<string, unknown>): BerthError =>
  new BerthError('AlreadyExists', message, { context });
export const failedPrecondition = (message: string, context?: Record<string, unknown>): BerthError =>
  new BerthError('FailedPrecondition', message, { context });

export function isBerthError(err: unknown, kind?: ErrorKind): err is BerthError {
  return err instanceof BerthError && (kind === undefined || err.kind === kind);
}

/** Wraps an unknown failure so it keeps its cause but gains the object it concerns. */
export function wrapError(err: unknown, kind: ErrorKind, message: string, context?: Record<string, unknown>): BerthError {
  if (err instanceof BerthError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new BerthError(kind, `${message}: ${detail}`, { cause: err, context });
}
