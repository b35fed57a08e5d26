/** The logging the snapshotter needs; a pino Logger satisfies it, tests pass a recorder. */
export interface SnapshotLogger {
  warn(context: Record<string, unknown>, message: string): void;
}

export const silentLogger: SnapshotLogger = { warn: () => undefined };
