/** One measured quantity for both runtimes. A missing value is printed as '-'; the ratio needs both. */
export interface ResultRow {
  metric: string;
  unit: string;
  berth?: number | undefined;
  containerd?: number | undefined;
  /** A ratio worked out elsewhere (the median of per-round ratios, say), shown instead of berth/containerd. */
  ratio?: number | undefined;
}

function formatValue(v: number | undefined, unit: string): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  const suffix = unit === '' ? '' : ` ${unit}`;
  if (Number.isInteger(v)) return `${v}${suffix}`;
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)}${suffix}`;
}

/** A ratio as the table prints it: 0.73x. */
export function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '-' : `${r.toFixed(2)}x`;
}

/** berth/containerd: below 1 means berth is faster (or smaller). */
export function ratio(berth: number | undefined, containerd: number | undefined): string {
  if (berth === undefined || containerd === undefined || containerd === 0) return '-';
  return formatRatio(berth / containerd);
}

/** The comparison table every bench prints: metric, berth, containerd, ratio (berth/containerd). */
export function formatTable(title: string, rows: ResultRow[], notes: string[] = []): string {
  const header = ['metric', 'berth', 'containerd', 'ratio'];
  const cells = rows.map((r) =>
    [r.metric, formatValue(r.berth, r.unit), formatValue(r.containerd, r.unit),
      r.ratio === undefined ? ratio(r.berth, r.containerd) : formatRatio(r.ratio)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]): string =>
    c.map((v, i) => (i === 0 ? v.padEnd(widths[i] as number) : v.padStart(widths[i] as number))).join('  ');
  return [
    `== ${title}`,
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map(line),
    ...notes.map((n) => `note: ${n}`),
  ].join('\n');
}

export function printTable(title: string, rows: ResultRow[], notes: string[] = []): void {
  process.stdout.write(`${formatTable(title, rows, notes)}\n`);
}
