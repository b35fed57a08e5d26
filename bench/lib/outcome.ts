/** A runtime's half of a bench either produced numbers or says why it could not. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; reason: string };

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/**
 * Run one runtime's half. A failure becomes a reason to print ("berth: not available (reason)") rather than an
 * exception, so one runtime missing a feature does not hide the other's numbers; the full error goes to stderr.
 */
export async function attempt<T>(runtime: string, fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    process.stderr.write(`${runtime} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return { ok: false, reason: firstLine(err) };
  }
}

export function valueOr<T, D>(o: Outcome<T>, fallback: D): T | D {
  return o.ok ? o.value : fallback;
}

/** The notes line for a runtime that produced no numbers, or none. */
export function unavailableNotes(outcomes: Record<string, Outcome<unknown>>): string[] {
  return Object.entries(outcomes).flatMap(([name, o]) => (o.ok ? [] : [`${name}: not available (${o.reason})`]));
}
