import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './args.js';
import { PullProgressView } from './pull-progress.js';
import { formatBytes, renderTable } from './table.js';

describe('berthctl command line', () => {
  it('takes global options anywhere before the command and defaults to k8s.io on the standard socket', () => {
    const c = parseCommandLine(['images', 'ls', '--json']);
    expect(c.global).toEqual({ namespace: 'k8s.io', address: '/run/berth/berth.sock', json: true, help: false });
    expect(c.positionals).toEqual(['images', 'ls']);
    expect(parseCommandLine(['-n', 'moby', '--address=/tmp/b.sock', 'tasks', 'ls']).global).toMatchObject({ namespace: 'moby', address: '/tmp/b.sock' });
  });

  it("passes the container's command after IMAGE and NAME through untouched, options included", () => {
    const c = parseCommandLine(['-n', 'moby', 'run', '--pull', '-e', 'A=1', 'busybox', 'web', 'sh', '-c', 'echo -n hi', '--json']);
    expect(c.positionals).toEqual(['run', 'busybox', 'web']);
    expect(c.rest).toEqual(['sh', '-c', 'echo -n hi', '--json']);
    expect(c).toMatchObject({ pull: true, env: ['A=1'], global: { json: false, namespace: 'moby' } });
    expect(parseCommandLine(['run', 'busybox', 'web', '--', '-x']).rest).toEqual(['-x']);
  });

  it('refuses unknown options', () => {
    expect(() => parseCommandLine(['--nope', 'images', 'ls'])).toThrow(/Unknown option '--nope'/);
  });
});

describe('berthctl output', () => {
  it('aligns table columns to the widest cell', () => {
    expect(renderTable(['A', 'LONGER'], [['xyz', '1'], ['q', '22']])).toBe('A     LONGER\nxyz   1\nq     22\n');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });

  const blob = (status: string, downloaded: number) => ({ digest: `sha256:${'a'.repeat(64)}`, media_type: 'layer', size: '2048', downloaded: String(downloaded), status });

  it('prints a plain line per status change off a terminal', () => {
    let out = '';
    const view = new PullProgressView({ write: (s: string) => (out += s) } as unknown as NodeJS.WriteStream, false);
    view.update([blob('waiting', 0)]);
    view.update([blob('downloading', 100)]);
    view.update([blob('downloading', 900)]);
    view.update([blob('done', 2048)]);
    expect(out.trim().split('\n').map((l) => l.split(' ')[2])).toEqual(['waiting', 'downloading', 'done']);
  });

  it('redraws one bar per blob with bytes and speed on a terminal', () => {
    let out = '';
    let now = 0;
    const view = new PullProgressView({ write: (s: string) => (out += s) } as unknown as NodeJS.WriteStream, true, () => now);
    view.update([blob('downloading', 0)]);
    now = 1000;
    out = '';
    view.update([blob('downloading', 1024)]);
    // Back up over the previous frame, clear the line, draw the bar half full at 1 KiB/s.
    expect(out).toBe(`\x1b[1A\x1b[2Ksha256:aaaaaaaaaaaa  [===============>              ]  1.0 KiB / 2.0 KiB       downloading  1.0 KiB/s\n`);
  });
});
