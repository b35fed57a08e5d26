import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

/** A running process as seen in /proc. */
export interface ProcInfo {
  pid: number;
  ppid: number;
  /** argv, split on NUL. */
  argv: string[];
}

async function readProc(pid: number): Promise<ProcInfo | undefined> {
  try {
    const [stat, cmdline] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
    ]);
    // The command name in field 2 may contain spaces and parentheses; fields resume after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(rest[1]), argv: cmdline.split('\0').filter((a) => a !== '') };
  } catch {
    // The process exited between readdir and read: it is simply not part of the snapshot.
    return undefined;
  }
}

/** A snapshot of every process on the machine. */
export async function listProcesses(): Promise<ProcInfo[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  const infos = await Promise.all(pids.map(readProc));
  return infos.filter((p): p is ProcInfo => p !== undefined);
}

/** Processes whose argv names path: a bench runtime's daemon and shims all take paths under its temp dir. */
export async function processesNaming(path: string): Promise<ProcInfo[]> {
  return (await listProcesses()).filter((p) => p.argv.some((a) => a.includes(path)));
}

/** pid and all its descendants, deepest first, so killing in order never orphans a child onto init. */
export function descendantsDeepestFirst(all: ProcInfo[], pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const order: number[] = [];
  const visit = (id: number): void => {
    for (const c of children.get(id) ?? []) visit(c);
    order.push(id);
  };
  visit(pid);
  return order;
}

/** SIGKILL each process tree rooted at the given pids. Processes already gone are ignored. */
export async function killTrees(roots: number[]): Promise<void> {
  const all = await listProcesses();
  for (const root of roots) {
    for (const pid of descendantsDeepestFirst(all, root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    }
  }
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  return clockTicks;
}

/**
 * CPU seconds the whole machine has spent busy (user, nice, system, irq, softirq, steal; all cores) since boot.
 * The difference over a span counts every process a runtime runs (daemon, shims, runc, CNI plugins), which no
 * per-process reading can, since runc and the plugins are gone by the time one looks.
 */
export async function hostBusySeconds(): Promise<number> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n', 1)[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / ticksPerSecond();
}

/**
 * Busy CPU seconds of the whole machine while fn runs, less this process's own: the bench's CRI client and
 * polling cost the same whichever runtime is measured, and counting them would only pull the two together.
 */
export async function hostCpuDuring<T>(fn: () => Promise<T>): Promise<{ value: T; cpu: number }> {
  const host = await hostBusySeconds();
  const own = process.cpuUsage();
  const value = await fn();
  const ownUsed = process.cpuUsage(own);
  return { value, cpu: (await hostBusySeconds()) - host - (ownUsed.user + ownUsed.system) / 1e6 };
}

/** CPU seconds (user + system) the process has used so far, and those of the children it has reaped. */
async function cpuTimes(pid: number): Promise<{ own: number; reapedChildren: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields 14 to 17 (utime, stime, cutime, cstime), counted after the parenthesised command name.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const at = (i: number): number => rest[i] as number;
  return { own: (at(11) + at(12)) / ticksPerSecond(), reapedChildren: (at(13) + at(14)) / ticksPerSecond() };
}

/** CPU seconds (user + system) the process has used so far, its reaped children not included. */
export async function cpuSeconds(pid: number): Promise<number> {
  return (await cpuTimes(pid)).own;
}

/**
 * CPU seconds the process and the children it has waited for (with theirs, recursively) have used; 0 once it
 * has exited. For a runtime's daemon and shims this takes in the short-lived runc and CNI plugin processes.
 */
export async function cpuSecondsWithReaped(pid: number): Promise<number> {
  try {
    const t = await cpuTimes(pid);
    return t.own + t.reapedChildren;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return 0;
    throw err;
  }
}

/**
 * Proportional set size of one process in bytes (from smaps_rollup): shared pages are split among their users,
 * so summing PSS over many shims gives their real combined footprint.
 */
export async function pssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const m = /^Pss:\s+(\d+) kB$/m.exec(text);
  if (m === null) throw new Error(`/proc/${pid}/smaps_rollup has no Pss line; the kernel is too old for this bench`);
  return Number(m[1]) * 1024;
}
