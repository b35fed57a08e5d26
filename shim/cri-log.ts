/**
 * The CRI container log format kubelet reads: one entry per line,
 *   <RFC3339Nano timestamp> <stdout|stderr> <P|F> <content>\n
 * A line longer than MAX_ENTRY_BYTES is cut into P (partial) entries followed by one F (full) entry that ends it;
 * kubelet joins them back. The file is reopened on request because kubelet rotates it by renaming.
 */
import fs from 'node:fs';
import { formatRfc3339Nano } from './clock.js';

export type StreamName = 'stdout' | 'stderr';

/** Longest content one entry carries (the size containerd and CRI-O use). */
export const MAX_ENTRY_BYTES = 16 * 1024;

const NEWLINE = 10;

/** Cuts one stream into entries; holds at most MAX_ENTRY_BYTES of an unfinished line. */
export class LineSplitter {
  private pending: Buffer = Buffer.alloc(0);

  /** Entries completed by `chunk`, as [tag, content] pairs. */
  push(chunk: Buffer): Array<['P' | 'F', Buffer]> {
    const out: Array<['P' | 'F', Buffer]> = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      let piece = chunk.subarray(start, end);
      // Emit P entries while the unfinished line holds more than one entry's worth.
      while (this.pending.length + piece.length > MAX_ENTRY_BYTES) {
        const take = MAX_ENTRY_BYTES - this.pending.length;
        out.push(['P', Buffer.concat([this.pending, piece.subarray(0, take)])]);
        this.pending = Buffer.alloc(0);
        piece = piece.subarray(take);
      }
      if (nl === -1) {
        this.pending = Buffer.concat([this.pending, piece]);
        break;
      }
      out.push(['F', Buffer.concat([this.pending, piece])]);
      this.pending = Buffer.alloc(0);
      start = nl + 1;
    }
    return out;
  }

  /** The stream ended: an unfinished line becomes a final F entry. */
  flush(): Array<['P' | 'F', Buffer]> {
    if (this.pending.length === 0) return [];
    const last = this.pending;
    this.pending = Buffer.alloc(0);
    return [['F', last]];
  }
}

export function formatEntry(timestamp: string, stream: StreamName, tag: 'P' | 'F', content: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${timestamp} ${stream} ${tag} `), content, Buffer.from('\n')]);
}

/** Writes both streams of one container to its CRI log file. An empty path discards the output. */
export class CriLogWriter {
  private fd: number | null = null;
  private readonly splitters: Record<StreamName, LineSplitter> = { stdout: new LineSplitter(), stderr: new LineSplitter() };

  constructor(
    private readonly path: string,
    private readonly clock: () => bigint,
    private readonly onWriteError: (err: unknown) => void,
  ) {
    this.fd = this.open();
  }

  write(stream: StreamName, chunk: Buffer): void {
    this.emit(stream, this.splitters[stream].push(chunk));
  }

  /** The stream reached EOF. */
  end(stream: StreamName): void {
    this.emit(stream, this.splitters[stream].flush());
  }

  /** Opens the path again (kubelet renamed the old file away), then closes the old descriptor. */
  reopen(): void {
    const next = this.open();
    this.closeFd();
    this.fd = next;
  }

  close(): void {
    this.end('stdout');
    this.end('stderr');
    this.closeFd();
  }

  private open(): number | null {
    if (this.path === '') return null;
    return fs.openSync(this.path, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o640);
  }

  private closeFd(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }

  private emit(stream: StreamName, entries: Array<['P' | 'F', Buffer]>): void {
    if (entries.length === 0 || this.fd === null) return;
    const ts = formatRfc3339Nano(this.clock());
    const data = Buffer.concat(entries.map(([tag, content]) => formatEntry(ts, stream, tag, content)));
    try {
      // Synchronous and whole: entries of the two streams must not interleave mid-line.
      for (let off = 0; off < data.length;) off += fs.writeSync(this.fd, data, off);
    } catch (err) {
      // A full disk must not kill the shim (and with it the container's status); the entries are lost.
      this.onWriteError(err);
    }
  }
}
