import { BerthError } from './errors.js';

/**
 * Settles like `work`, or rejects with DeadlineExceeded once `ms` have passed. `work` itself is not cancelled
 * (a hung shim may answer later); the caller stops waiting for it. Used where one stuck object must not hold up
 * many others, such as restart recovery.
 */
export function withTimeLimit<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BerthError('DeadlineExceeded', `${what} did not answer within ${ms / 1000}s`)), ms);
    timer.unref();
  });
  // A late rejection of `work` after the limit fired has no one waiting for it.
  work.catch(() => undefined);
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}
