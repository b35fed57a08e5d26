import { readFile } from 'node:fs/promises';

/** One interface's counters as /proc/<pid>/net/dev lists them. */
export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/** Parses /proc/net/dev: two header lines, then `name: rx bytes packets errs ... tx bytes packets errs ...`. */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 11) continue;
    out.push({ name: line.slice(0, colon).trim(), rxBytes: f[0]!, rxErrors: f[2]!, txBytes: f[8]!, txErrors: f[10]! });
  }
  return out;
}

/**
 * The interfaces (loopback excluded) of the network namespace process `pid` lives in. /proc/<pid>/net shows the
 * process's own namespace, so no setns is needed to read a pod's counters. A process that has just exited
 * yields nothing rather than an error: stats are a best-effort snapshot.
 */
export async function podInterfaces(pid: number): Promise<InterfaceCounters[]> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/net/dev`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return [];
    throw err;
  }
  return parseNetDev(text).filter((i) => i.name !== 'lo');
}
