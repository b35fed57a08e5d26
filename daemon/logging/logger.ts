import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../../config/types.js';

/** The daemon's logger type; components take a child logger with their own bindings (`{ component: 'cri' }`). */
export type Logger = PinoLogger;

/**
 * JSON lines on stderr (stdout stays free for command output such as `berthd config default`). Writes are
 * synchronous so the last lines before a crash or exit are not lost in a buffer.
 */
export function createLogger(level: LogLevel): Logger {
  return pino(
    { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: true }),
  );
}
