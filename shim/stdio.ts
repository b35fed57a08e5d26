/**
 * The shim's ends of a container's stdio: pipes (or a pty master) handled through libuv (net.Socket accepts a
 * pipe fd, tty.ReadStream a terminal), so output is consumed as it arrives with no thread and no polling.
 * Each reader reads into one buffer of its own, reused for every read, so a container that logs hard does not
 * churn the shim's allocator.
 */
import net from 'node:net';
import tty from 'node:tty';

/** A pipe's default capacity: one read drains it. */
const READ_BUFFER_BYTES = 64 * 1024;

export interface PipeReader {
  /** Resolves at EOF: every writer (the process and any child that inherited the pipe) has closed it. */
  readonly done: Promise<void>;
  /** Stops reading and closes the fd; `done` resolves. */
  close(): void;
}

/** A sink for a container's stdin: a pipe's write end or a pty master. */
export interface InputWriter {
  write(data: Buffer): void;
  /** Closes the container's stdin (it reads EOF); for a terminal, sends EOF (^D) instead. */
  end(): void;
}

function onread(onData: (chunk: Buffer) => void): net.OnReadOpts {
  return {
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
    callback: (n, buf) => {
      onData(Buffer.from(buf.buffer, buf.byteOffset, n));
      return true; // keep reading
    },
  };
}

/** `onData` gets a view of the reused buffer: it must copy what it keeps before returning. */
export function readPipe(fd: number, onData: (chunk: Buffer) => void): PipeReader {
  // net.Socket honours onread for an fd as for a connection; @types/node declares it on connect() only.
  const options: net.SocketConstructorOpts & { onread: net.OnReadOpts } = { fd, readable: true, writable: false, onread: onread(onData) };
  return track(new net.Socket(options));
}

/** The write end of the container's stdin pipe, written asynchronously so a container that does not read
 * its stdin cannot block the shim. */
export function writePipe(fd: number): InputWriter {
  const socket = new net.Socket({ fd, readable: false, writable: true });
  // EPIPE once the container is gone: its input has nowhere to go.
  socket.on('error', () => socket.destroy());
  return { write: (d) => { socket.write(d); }, end: () => { socket.end(); } };
}

/**
 * A pty master received from the runtime: read like a pipe (EIO once the container side is closed ends the
 * stream), and written for the container's stdin through the same handle (a second handle on the fd would
 * clash in epoll, and tty.WriteStream would make the fd blocking).
 */
export function openTerminal(fd: number, onData: (chunk: Buffer) => void): PipeReader & InputWriter {
  const options: net.SocketConstructorOpts & { onread: net.OnReadOpts } = { onread: onread(onData) };
  const stream = new tty.ReadStream(fd, options);
  const reader = track(stream);
  const EOT = Buffer.from([4]);
  return { ...reader, write: (d) => { stream.write(d); }, end: () => { stream.write(EOT); } };
}

function track(socket: net.Socket): PipeReader {
  const done = new Promise<void>((resolve) => {
    // A read error on a pipe means the other side is gone, the same as EOF for the shim.
    socket.on('error', () => socket.destroy());
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
