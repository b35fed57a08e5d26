import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cgroupPathsFromProc, oomKillCount, readStats } from './cgroup.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function fakeCgroup(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cgroup-test-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

describe('cgroupPathsFromProc', () => {
  it('takes the unified line on cgroup v2', () => {
    expect(cgroupPathsFromProc('0::/kubepods/pod1/abc\n', true, '/sys/fs/cgroup')).toEqual({
      version: 2, memory: '/sys/fs/cgroup/kubepods/pod1/abc', cpu: '/sys/fs/cgroup/kubepods/pod1/abc', pids: '/sys/fs/cgroup/kubepods/pod1/abc',
    });
  });

  it('finds each v1 controller, also on a shared line', () => {
    const text = '12:pids:/k/a\n4:cpu,cpuacct:/k/a\n3:memory:/k/a\n0::/\n';
    expect(cgroupPathsFromProc(text, false, '/sys/fs/cgroup')).toEqual({
      version: 1, memory: '/sys/fs/cgroup/memory/k/a', cpu: '/sys/fs/cgroup/cpuacct/k/a', pids: '/sys/fs/cgroup/pids/k/a',
    });
  });
});

describe('readStats and oomKillCount', () => {
  it('reads v2 counters: usage_usec in ns, working set without inactive_file', () => {
    const dir = fakeCgroup({
      'cpu.stat': 'usage_usec 1500\nuser_usec 1000\n',
      'memory.current': '10000\n',
      'memory.stat': 'anon 4000\nfile 6000\ninactive_file 2500\n',
      'pids.current': '3\n',
      'memory.events': 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n',
    });
    const paths = { version: 2 as const, memory: dir, cpu: dir, pids: dir };
    expect(readStats(paths)).toEqual({ cpuUsageNs: 1_500_000n, memoryUsageBytes: 10000, memoryWorkingSetBytes: 7500, memoryRssBytes: 4000, pids: 3 });
    expect(oomKillCount(paths)).toBe(1n);
  });

  it('reads v1 counters and never reports a negative working set', () => {
    const dir = fakeCgroup({
      'cpuacct.usage': '987654321\n',
      'memory.usage_in_bytes': '1000\n',
      'memory.stat': 'rss 10\ntotal_rss 800\ntotal_inactive_file 5000\n',
      'pids.current': '1\n',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    });
    const paths = { version: 1 as const, memory: dir, cpu: dir, pids: dir };
    expect(readStats(paths)).toEqual({ cpuUsageNs: 987654321n, memoryUsageBytes: 1000, memoryWorkingSetBytes: 0, memoryRssBytes: 800, pids: 1 });
    expect(oomKillCount(paths)).toBe(2n);
  });
});
