/**
 * Reads the shim's end of a container stdio pipe through libuv (net.Socket accepts a pipe fd), so output is
 * consumed as it arrives with no thread and no polling.
 */
import net from 'node:net';

export interface PipeReader {
  /** Resolves at EOF: every writer (the process and any child that inherited the pipe) has closed it. */
  readonly done: Promise<void>;
  /** Stops reading and closes the fd; `done` resolves. */
  close(): void;
}

export function readPipe(fd: number, onData: (chunk: Buffer) => void): PipeReader {
  const socket = new net.Socket({ fd, readable: true, writable: false });
  const done = new Promise<void>((resolve) => {
    socket.on('data', onData);
    // A read error on a pipe means the other side is gone, the same as EOF for the shim.
    socket.once('error', () => socket.destroy());
    socket.once('close', () => resolve());
  });
  return { done, close: () => socket.destroy() };
}

/** Waits for `readers` to reach EOF, but at most `ms`: a background process may hold a pipe open forever. */
export async function drainWithin(readers: PipeReader[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([Promise.all(readers.map((r) => r.done)), deadline]);
  clearTimeout(timer);
  for (const r of readers) r.close();
}
