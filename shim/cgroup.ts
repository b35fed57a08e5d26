/**
 * Reads the container's cgroup counters directly (cheaper than forking `runc events --stats` every time kubelet
 * asks). The paths are resolved once from /proc/<init>/cgroup while the init lives, so the counters stay
 * readable after it exits, until `runc delete` removes the cgroup. Handles cgroup v2 (unified) and v1.
 */
import fs from 'node:fs';

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface CgroupPaths {
  version: 1 | 2;
  /** v2: the one directory. v1: the memory controller's directory. */
  memory: string;
  /** v2: same as memory. v1: cpuacct's directory. */
  cpu: string;
  pids: string;
}

export interface CgroupStats {
  cpuUsageNs: bigint;
  memoryUsageBytes: number;
  memoryWorkingSetBytes: number;
  memoryRssBytes: number;
  pids: number;
}

function isUnified(): boolean {
  return fs.existsSync(`${CGROUP_ROOT}/cgroup.controllers`);
}

/** The directories berth reads for `pid`, from /proc/<pid>/cgroup. */
export function cgroupPathsOf(pid: number): CgroupPaths {
  return cgroupPathsFromProc(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'), isUnified(), CGROUP_ROOT);
}

/**
 * Parses /proc/<pid>/cgroup text. v2 (unified): the "0::<path>" line. v1: the line listing each controller
 * (controllers may share a line, as in "4:cpu,cpuacct:/x"), mounted at <root>/<controller>.
 */
export function cgroupPathsFromProc(text: string, unified: boolean, root: string): CgroupPaths {
  const lines = text.split('\n');
  if (unified) {
    const line = lines.find((l) => l.startsWith('0::'));
    const dir = `${root}${line === undefined ? '/' : line.slice(3)}`;
    return { version: 2, memory: dir, cpu: dir, pids: dir };
  }
  const v1 = (controller: string): string => {
    for (const l of lines) {
      const m = /^\d+:([^:]*):(.*)$/.exec(l);
      if (m !== null && (m[1] ?? '').split(',').includes(controller)) return `${root}/${controller}${m[2] ?? ''}`;
    }
    return `${root}/${controller}`;
  };
  return { version: 1, memory: v1('memory'), cpu: v1('cpuacct'), pids: v1('pids') };
}

function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** "key value" lines (memory.stat, memory.events, cpu.stat, memory.oom_control) as a map. */
function readKeyed(path: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const text = readText(path);
  if (text === null) return out;
  for (const line of text.split('\n')) {
    const [k, v] = line.split(' ');
    if (k !== undefined && v !== undefined && /^\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

function readNumber(path: string): bigint {
  const text = readText(path)?.trim();
  return text !== undefined && /^\d+$/.test(text) ? BigInt(text) : 0n;
}

/** The cgroup's count of OOM kills (v2 memory.events, v1 memory.oom_control on kernels >= 4.13). */
export function oomKillCount(paths: CgroupPaths): bigint {
  const file = paths.version === 2 ? 'memory.events' : 'memory.oom_control';
  return readKeyed(`${paths.memory}/${file}`).get('oom_kill') ?? 0n;
}

export function readStats(paths: CgroupPaths): CgroupStats {
  const mem = readKeyed(`${paths.memory}/memory.stat`);
  let cpuUsageNs: bigint;
  let usage: bigint;
  let inactiveFile: bigint;
  let rss: bigint;
  if (paths.version === 2) {
    cpuUsageNs = (readKeyed(`${paths.cpu}/cpu.stat`).get('usage_usec') ?? 0n) * 1000n;
    usage = readNumber(`${paths.memory}/memory.current`);
    inactiveFile = mem.get('inactive_file') ?? 0n;
    rss = mem.get('anon') ?? 0n;
  } else {
    cpuUsageNs = readNumber(`${paths.cpu}/cpuacct.usage`);
    usage = readNumber(`${paths.memory}/memory.usage_in_bytes`);
    inactiveFile = mem.get('total_inactive_file') ?? 0n;
    rss = mem.get('total_rss') ?? 0n;
  }
  const workingSet = usage > inactiveFile ? usage - inactiveFile : 0n;
  return {
    cpuUsageNs,
    memoryUsageBytes: Number(usage),
    memoryWorkingSetBytes: Number(workingSet),
    memoryRssBytes: Number(rss),
    pids: Number(readNumber(`${paths.pids}/pids.current`)),
  };
}
