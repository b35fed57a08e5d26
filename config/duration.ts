const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Parses a Go-style duration ("30s", "5m", "1m30s", "1.5h", "250ms") into milliseconds, so operators can reuse
 * values from containerd configs. Returns undefined for anything else; a bare "0" is accepted as zero.
 */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  if (text === '') return undefined;
  const term = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let total = 0;
  while (term.lastIndex < text.length) {
    const match = term.exec(text);
    if (match === null) return undefined;
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
  }
  return total;
}
