import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import koffi from 'koffi';
import { BerthError } from '../errors/errors.js';
import { ERRNO_NAMES, LIBC_PATH, SyscallError } from '../linux/libc.js';

const LOCK_EX = 2;
const LOCK_NB = 4;

let flockFn: ((fd: number, operation: number) => number) | undefined;

function flock(fd: number, operation: number): number {
  flockFn ??= koffi.load(LIBC_PATH).func('int flock(int fd, int operation)') as (fd: number, operation: number) => number;
  return flockFn(fd, operation);
}

/**
 * An exclusive flock(2) on a file, held for the life of the process. The kernel drops it when the process dies,
 * however it dies, so a kill -9'd daemon never blocks the next start (a pid file alone could not promise that).
 * Node opens files with O_CLOEXEC, so runc and shims started by the daemon do not inherit the lock.
 */
export class InstanceLock {
  readonly path: string;
  #fd: number | undefined;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Takes the lock or fails at once; `what` names the resource for the error ("root /var/lib/berth"). */
  static acquire(path: string, what: string): InstanceLock {
    const fd = openSync(path, 'a+', 0o600);
    if (flock(fd, LOCK_EX | LOCK_NB) === -1) {
      const errno = koffi.errno();
      closeSync(fd);
      if (ERRNO_NAMES[errno] !== 'EWOULDBLOCK' && ERRNO_NAMES[errno] !== 'EAGAIN') {
        throw new SyscallError('flock', ERRNO_NAMES[errno] ?? `errno ${errno}`, path);
      }
      const holder = readFileSync(path, 'utf8').trim();
      throw new BerthError(
        'FailedPrecondition',
        `another berthd${holder === '' ? '' : ` (pid ${holder})`} is already using ${what} (lock ${path} is held); ` +
          'stop it first, or give this daemon its own root, state and [grpc] address',
        { context: { lock: path } },
      );
    }
    // The pid is only for the message above; the lock itself is the flock.
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`);
    return new InstanceLock(path, fd);
  }

  release(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}
