/**
 * Reads the shim's end of a container stdio pipe through libuv (net.Socket accepts a pipe fd), so output is
 * consumed as it arrives with no thread and no polling. Each reader reads into one buffer of its own, reused
 * for every read, so a container that logs hard does not churn the shim's allocator.
 */
import net from 'node:net';

/** A pipe's default capacity: one read drains it. */
const READ_BUFFER_BYTES = 64 * 1024;

export interface PipeReader {
  /** Resolves at EOF: every writer (the process and any child that inherited the pipe) has closed it. */
  readonly done: Promise<void>;
  /** Stops reading and closes the fd; `done` resolves. */
  close(): void;
}

/** `onData` gets a view of the reused buffer: it must copy what it keeps before returning. */
export function readPipe(fd: number, onData: (chunk: Buffer) => void): PipeReader {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  // net.Socket honours onread for an fd as for a connection; @types/node declares it on connect() only.
  const options: net.SocketConstructorOpts & { onread: net.OnReadOpts } = {
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer,
      callback: (n, buf) => {
        onData(Buffer.from(buf.buffer, buf.byteOffset, n));
        return true; // keep reading
      },
    },
  };
  const socket = new net.Socket(options);
  const done = new Promise<void>((resolve) => {
    // A read error on a pipe means the other side is gone, the same as EOF for the shim.
    socket.once('error', () => socket.destroy());
    socket.once('close', () => resolve());
  });
  // With onread there are no 'data' events, but the stream must flow for 'end' to be emitted.
  socket.resume();
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
