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

/** Bytes of encoded entries gathered before a write(2): large enough for any entry (prefix + 16 KiB + newline). */
const OUT_BUFFER_BYTES = 256 * 1024;

/**
 * A reused output buffer that entries are copied into and written from, so encoding a chunk allocates nothing
 * per line and nothing that outlives the chunk (a busy container writes millions of short lines).
 */
export class EntryBuffer {
  private readonly buf = Buffer.allocUnsafe(OUT_BUFFER_BYTES);
  private len = 0;

  constructor(private readonly write: (data: Buffer) => void) {}

  /** Appends `prefix`, `head`, `body[from, to)` and a newline as one entry. */
  append(prefix: Buffer, head: Buffer, body: Buffer, from: number, to: number): void {
    if (this.len + prefix.length + head.length + (to - from) + 1 > this.buf.length) this.drain();
    this.len += prefix.copy(this.buf, this.len);
    this.len += head.copy(this.buf, this.len);
    this.len += body.copy(this.buf, this.len, from, to);
    this.buf[this.len++] = NEWLINE;
  }

  /** Hands the gathered entries to the writer; always on an entry boundary. */
  drain(): void {
    if (this.len === 0) return;
    const data = this.buf.subarray(0, this.len);
    this.len = 0;
    this.write(data);
  }
}

/** Cuts one stream into CRI entries; holds at most MAX_ENTRY_BYTES of an unfinished line. */
export class CriStreamEncoder {
  private readonly pending = Buffer.allocUnsafe(MAX_ENTRY_BYTES);
  private pendingLen = 0;

  constructor(private readonly stream: StreamName) {}

  /** Appends the entries `chunk` completes, stamped with `timestamp` (one per chunk: they arrived together). */
  encode(chunk: Buffer, timestamp: string, out: EntryBuffer): void {
    let prefixP: Buffer | null = null;
    let prefixF: Buffer | null = null;
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      const end = nl === -1 ? chunk.length : nl;
      // Emit P entries while the unfinished line holds more than one entry's worth.
      while (this.pendingLen + (end - start) > MAX_ENTRY_BYTES) {
        const take = MAX_ENTRY_BYTES - this.pendingLen;
        prefixP ??= Buffer.from(`${timestamp} ${this.stream} P `);
        out.append(prefixP, this.pending.subarray(0, this.pendingLen), chunk, start, start + take);
        this.pendingLen = 0;
        start += take;
      }
      if (nl === -1) {
        this.pendingLen += chunk.copy(this.pending, this.pendingLen, start, end);
        break;
      }
      prefixF ??= Buffer.from(`${timestamp} ${this.stream} F `);
      out.append(prefixF, this.pending.subarray(0, this.pendingLen), chunk, start, end);
      this.pendingLen = 0;
      start = nl + 1;
    }
  }

  /** The stream ended: an unfinished line becomes a final F entry. */
  flush(timestamp: string, out: EntryBuffer): void {
    if (this.pendingLen === 0) return;
    out.append(Buffer.from(`${timestamp} ${this.stream} F `), this.pending.subarray(0, this.pendingLen), Buffer.alloc(0), 0, 0);
    this.pendingLen = 0;
  }
}

/** Writes both streams of one container to its CRI log file. An empty path discards the output. */
export class CriLogWriter {
  private fd: number | null = null;
  private readonly encoders: Record<StreamName, CriStreamEncoder> = { stdout: new CriStreamEncoder('stdout'), stderr: new CriStreamEncoder('stderr') };
  private readonly out = new EntryBuffer((data) => this.writeOut(data));

  constructor(
    private readonly path: string,
    private readonly clock: () => bigint,
    private readonly onWriteError: (err: unknown) => void,
  ) {
    this.fd = this.open();
  }

  write(stream: StreamName, chunk: Buffer): void {
    this.encoders[stream].encode(chunk, this.timestamp(), this.out);
    // Written before the next chunk of either stream is encoded: entries never interleave.
    this.out.drain();
  }

  /** The stream reached EOF. */
  end(stream: StreamName): void {
    this.encoders[stream].flush(this.timestamp(), this.out);
    this.out.drain();
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

  private timestamp(): string {
    return formatRfc3339Nano(this.clock());
  }

  private writeOut(data: Buffer): void {
    if (this.fd === null) return;
    try {
      for (let off = 0; off < data.length;) off += fs.writeSync(this.fd, data, off);
    } catch (err) {
      // A full disk must not kill the shim (and with it the container's status); the entries are lost.
      this.onWriteError(err);
    }
  }
}
