import { BerthError, type ErrorKind } from '../errors/errors.js';
import { isSnapshotError, type SnapshotErrorCode } from '../../snapshotter/errors.js';

/** snapshotter/ cannot import daemon/errors; this is the one place its codes become error kinds. */
const kindOfCode: Readonly<Record<SnapshotErrorCode, ErrorKind>> = {
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  FailedPrecondition: 'FailedPrecondition',
  InvalidLayer: 'FailedPrecondition',
  LimitExceeded: 'ResourceExhausted',
  Unsupported: 'Unimplemented',
};

const hintOfCode: Partial<Record<SnapshotErrorCode, string>> = {
  InvalidLayer: '; the image is malformed or hostile, do not run it',
  LimitExceeded: '; if the image is trusted, raise the [images] limits in the berth config',
};

/**
 * Any failure as a BerthError saying what was being done: a SnapshotError keeps its meaning through its code, a
 * BerthError passes unchanged, anything else is Internal.
 */
export function asBerthError(err: unknown, doing: string): BerthError {
  if (err instanceof BerthError) return err;
  if (isSnapshotError(err)) {
    return new BerthError(kindOfCode[err.code], `${doing}: ${err.message}${hintOfCode[err.code] ?? ''}`, { cause: err, context: { ...err.context } });
  }
  return new BerthError('Internal', `${doing}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
