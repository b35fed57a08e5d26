import type { ErrorBody, ShimErrorCode } from './protocol.js';

/** Every failure the shim reports, and every failure the client raises, carries a stable protocol code. */
export class ShimError extends Error {
  readonly code: ShimErrorCode;

  constructor(code: ShimErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `ShimError(${code})`;
    this.code = code;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

export function isShimError(err: unknown, code?: ShimErrorCode): err is ShimError {
  return err instanceof ShimError && (code === undefined || err.code === code);
}

/** Keeps a ShimError as it is; anything else becomes `code` with the object it concerns in the message. */
export function toShimError(err: unknown, code: ShimErrorCode, message: string): ShimError {
  if (err instanceof ShimError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new ShimError(code, `${message}: ${detail}`, { cause: err });
}
