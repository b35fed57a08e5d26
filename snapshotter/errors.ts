/**
 * Typed failures of the snapshotter and the layer applier. snapshotter/ may not import daemon/, so the daemon maps
 * `code` onto its own error kinds in one place; callers branch on `code`, never on message text.
 */
export type SnapshotErrorCode = 'NotFound' | 'AlreadyExists' | 'FailedPrecondition' | 'InvalidLayer' | 'LimitExceeded' | 'Unsupported';

export class SnapshotError extends Error {
  readonly code: SnapshotErrorCode;
  /** Structured context (keys, entry names, limits) for logs; the message already names the object and the fix. */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: SnapshotErrorCode, message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = `SnapshotError(${code})`;
    this.code = code;
    this.context = options.context ?? {};
  }
}

export function isSnapshotError(err: unknown, code?: SnapshotErrorCode): err is SnapshotError {
  return err instanceof SnapshotError && (code === undefined || err.code === code);
}

/** A layer that tried something a layer may not do (escape its snapshot, malformed entries): refuse it whole. */
export const invalidLayer = (message: string, context?: Record<string, unknown>): SnapshotError =>
  new SnapshotError('InvalidLayer', message, { context });
