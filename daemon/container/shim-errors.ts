import { isShimError, type ShimError } from '../../shim/client.js';
import type { ShimErrorCode } from '../../shim/protocol.js';
import { BerthError, type ErrorKind } from '../errors/errors.js';

/** shim/ cannot import daemon/errors; this is the one place its codes become error kinds. */
const kindOfCode: Readonly<Record<ShimErrorCode, ErrorKind>> = {
  InvalidArgument: 'InvalidArgument',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  FailedPrecondition: 'FailedPrecondition',
  Unsupported: 'Unimplemented',
  RuntimeFailed: 'Internal',
  ProtocolError: 'Internal',
  Unavailable: 'Unavailable',
  Internal: 'Internal',
};

/** Any failure as a BerthError naming what was being done; a ShimError keeps its meaning through its code. */
export function shimFailure(err: unknown, doing: string): BerthError {
  if (err instanceof BerthError) return err;
  if (isShimError(err)) {
    const shimErr = err as ShimError;
    return new BerthError(kindOfCode[shimErr.code], `${doing}: ${shimErr.message}`, { cause: err });
  }
  return new BerthError('Internal', `${doing}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
