/** Serialises async critical sections within this process (metadata read-modify-write, directory creation). */
export class AsyncLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    // The next section waits for this one to settle, whatever its outcome; the caller still sees the rejection.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
