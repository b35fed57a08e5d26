/** Columns separated by at least three spaces, each as wide as its widest cell (ctr's and crictl's look). */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** "sha256:0123456789abcdef…" → "sha256:0123456789ab", as ctr prints digests in tables. */
export function shortDigest(digest: string): string {
  const [algo, hex] = digest.split(':');
  return hex === undefined ? digest.slice(0, 12) : `${algo}:${hex.slice(0, 12)}`;
}

/** A decimal nanosecond or millisecond timestamp as an ISO date; "" for zero. */
export function formatTime(value: string | number, unit: 'ns' | 'ms'): string {
  const big = BigInt(value);
  if (big === 0n) return '';
  const ms = unit === 'ns' ? big / 1_000_000n : big;
  return new Date(Number(ms)).toISOString().replace(/\.\d+Z$/, 'Z');
}
