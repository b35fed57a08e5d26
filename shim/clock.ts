/**
 * Wall-clock time with nanosecond digits. Date has milliseconds only; the monotonic clock, anchored once to
 * the wall clock, supplies the rest so log lines written within one millisecond still sort in order.
 */
const anchorNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

export function nowNs(): bigint {
  return anchorNs + process.hrtime.bigint();
}

/** RFC 3339 in UTC with exactly nine fractional digits (fixed width, so log timestamps sort as text). */
export function formatRfc3339Nano(ns: bigint): string {
  const ms = ns / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // 2026-11-23T09:00:00.123Z
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return `${iso.slice(0, 19)}.${frac}Z`;
}
