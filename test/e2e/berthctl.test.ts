import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxImage, pushImage, type PushedImage } from '../fixtures/images.js';
import { containerConfig, podConfig, runContainer, usePodTestBed } from '../fixtures/pods.js';

const BERTHCTL = fileURLToPath(new URL('../../dist/daemon/cli/berthctl.js', import.meta.url));

/**
 * berthctl against a real berthd: a standalone container in namespace `moby` (berthctl run) beside a CRI pod in
 * `k8s.io`, each invisible to the other's lists; --json output; pull progress as plain lines off a terminal.
 */
describe('berthctl and namespaces', () => {
  const bed = usePodTestBed({ pull: false });
  let mobyOnly: PushedImage;

  /** Runs berthctl on the test daemon's socket; stdout is a pipe, so it is not a terminal. */
  const ctl = async (...args: string[]): Promise<{ code: number | undefined; stdout: string; stderr: string }> => {
    const r = await execa(process.execPath, [BERTHCTL, '--address', bed.daemon.socket, ...args], { reject: false, timeout: 60_000 });
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = async (...args: string[]): Promise<string> => {
    const r = await ctl(...args);
    if (r.code !== 0) throw new Error(`berthctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
    return r.stdout;
  };
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await ok('--json', ...args)) as T;

  beforeAll(async () => {
    mobyOnly = await pushImage({ url: bed.registry.url }, 'e2e/moby-only', '1', await busyboxImage({ config: { Env: ['ONLY=moby'] } }));
  });
  afterAll(async () => {
    if (bed.daemon !== undefined) {
      for (const c of (await json<{ name: string }[]>('-n', 'moby', 'containers', 'ls').catch(() => []))) await ctl('-n', 'moby', 'rm', c.name);
    }
  });

  it('pulls with one plain line per blob status change when stdout is not a terminal', async () => {
    const out = await ok('-n', 'moby', 'images', 'pull', mobyOnly.reference);
    const lines = out.trim().split('\n');
    expect(lines.at(-1)).toMatch(new RegExp(`^pulled .*e2e/moby-only:1 \\(sha256:[0-9a-f]{64}, .*\\) in \\d+\\.\\ds$`));
    // No terminal control sequences off a terminal.
    expect(out).not.toContain('\x1b[');
    for (const layer of mobyOnly.layers) expect(lines.some((l) => l.startsWith(`${layer.digest} `) && l.includes(' done '))).toBe(true);
    await ok('-n', 'moby', 'images', 'pull', bed.busybox.reference);
    const again = await ok('-n', 'moby', 'images', 'pull', bed.busybox.reference);
    expect(again).toContain(' exists ');
  });

  it('draws per-layer bars with bytes and speed on a terminal', async () => {
    const tty = await pushImage({ url: bed.registry.url }, 'e2e/tty', '1', await busyboxImage({ config: { Env: ['TTY=1'] } }));
    // script(1) gives berthctl a pseudo-terminal for stdout.
    const command = [process.execPath, BERTHCTL, '--address', bed.daemon.socket, '-n', 'tty', 'images', 'pull', tty.reference].join(' ');
    const { stdout } = await execa('script', ['-qec', command, '/dev/null'], { timeout: 60_000 });
    expect(stdout).toContain('\x1b[2K');
    expect(stdout).toMatch(/sha256:[0-9a-f]{12} {2}\[=+\] {2}\d/);
    expect(stdout).toMatch(/pulled .*e2e\/tty:1/);
    await ok('-n', 'tty', 'images', 'rm', tty.reference);
  });

  it('runs a moby container and a CRI pod side by side, each seeing only its own', async () => {
    expect((await ok('-n', 'moby', 'run', bed.busybox.reference, 'web1', 'sleep', '1000')).trim()).toMatch(/^[0-9a-f]{64}$/);
    await bed.daemon.image.PullImage({ image: { image: bed.busybox.reference } });
    const pod = podConfig('iso');
    const { pod_sandbox_id: podId } = await bed.daemon.runtime.RunPodSandbox({ config: pod });
    const criId = await runContainer(bed.daemon.runtime, podId, pod, containerConfig('app', bed.busybox.reference, ['sleep', '1000']));

    type Row = { id: string; name: string; state: string; pod_sandbox_id: string };
    const moby = await json<Row[]>('-n', 'moby', 'containers', 'ls');
    expect(moby.map((c) => [c.name, c.state])).toEqual([['web1', 'CONTAINER_RUNNING']]);
    const k8s = await json<Row[]>('containers', 'ls');
    expect(k8s.map((c) => c.id)).toEqual([criId]);
    // The CRI sees neither the moby container nor the pod behind it.
    expect((await bed.daemon.runtime.ListContainers({})).containers.map((c) => c.id)).toEqual([criId]);
    expect((await bed.daemon.runtime.ListPodSandbox({})).items.map((p) => p.id)).toEqual([podId]);
    await expect(bed.daemon.runtime.ContainerStatus({ container_id: moby[0]!.id, verbose: false })).rejects.toMatchObject({ code: 5 });

    const tasks = await json<{ name: string; pid: number; status: string }[]>('-n', 'moby', 'tasks', 'ls');
    expect(tasks).toEqual([expect.objectContaining({ name: 'web1', status: 'running' })]);
    expect(existsSync(`/proc/${tasks[0]!.pid}`)).toBe(true);
    expect((await json<{ name: string }[]>('tasks', 'ls')).map((t) => t.name)).toEqual(['app']);

    // Images: moby-only is in moby alone; busybox is in both, recorded separately.
    const mobyImages = (await json<{ names: string[] }[]>('-n', 'moby', 'images', 'ls')).flatMap((i) => i.names);
    expect(mobyImages).toEqual(expect.arrayContaining([mobyOnly.reference, bed.busybox.reference]));
    expect((await json<{ names: string[] }[]>('images', 'ls')).flatMap((i) => i.names)).toEqual([bed.busybox.reference]);
    expect((await bed.daemon.image.ListImages({})).images.flatMap((i) => i.repo_tags)).toEqual([bed.busybox.reference]);

    const namespaces = await json<{ name: string; containers: number; images: number }[]>('namespaces', 'ls');
    expect(namespaces).toEqual([
      expect.objectContaining({ name: 'k8s.io', containers: 1, images: 1 }),
      expect.objectContaining({ name: 'moby', containers: 1, images: 2 }),
    ]);
    const content = await json<{ digest: string }[]>('-n', 'moby', 'content', 'ls');
    expect(content.map((b) => b.digest)).toEqual(expect.arrayContaining(mobyOnly.layers.map((l) => l.digest)));
    expect((await json<{ digest: string }[]>('content', 'ls')).map((b) => b.digest)).not.toContain(mobyOnly.config.digest);
    const snapshots = await json<{ key: string; kind: string }[]>('-n', 'moby', 'snapshots', 'ls');
    expect(snapshots).toContainEqual(expect.objectContaining({ key: moby[0]!.id, kind: 'active' }));
    expect((await json<{ key: string }[]>('snapshots', 'ls')).map((s) => s.key)).not.toContain(moby[0]!.id);

    // Tables: a header and aligned columns.
    const table = (await ok('-n', 'moby', 'containers', 'ls')).split('\n');
    expect(table[0]).toMatch(/^CONTAINER\s+NAME\s+IMAGE\s+STATE\s+RUNTIME\s+CREATED$/);
    expect(table[1]!.indexOf('web1')).toBe(table[0]!.indexOf('NAME'));

    // A restart reopens the moby namespace from its records and reconnects to the container's shim.
    await bed.daemon.restart();
    expect((await json<Row[]>('-n', 'moby', 'containers', 'ls')).map((c) => [c.name, c.state])).toEqual([['web1', 'CONTAINER_RUNNING']]);

    expect((await ok('-n', 'moby', 'rm', 'web1')).trim()).toBe('web1');
    expect(await json<Row[]>('-n', 'moby', 'containers', 'ls')).toEqual([]);
    expect(existsSync(`/proc/${tasks[0]!.pid}`)).toBe(false);
    expect(existsSync(join(bed.daemon.state, 'moby', moby[0]!.id))).toBe(false);
    expect((await bed.daemon.runtime.ListContainers({})).containers.map((c) => c.id)).toEqual([criId]);
  });

  it('refuses what would cross namespaces, with messages that say what to do', async () => {
    const intoCri = await ctl('run', bed.busybox.reference, 'x1', 'true');
    expect(intoCri.code).toBe(1);
    expect(intoCri.stderr).toContain('INVALID_ARGUMENT');
    expect(intoCri.stderr).toContain('-n moby');
    const criContainer = (await bed.daemon.runtime.ListContainers({})).containers[0]!;
    const rmCri = await ctl('rm', criContainer.id);
    expect(rmCri.code).toBe(1);
    expect(rmCri.stderr).toContain('crictl');
    const missing = await ctl('-n', 'moby', 'rm', 'nope');
    expect(missing.stderr).toContain('NOT_FOUND');
    const noImage = await ctl('-n', 'other', 'run', mobyOnly.reference, 'x2');
    expect(noImage.stderr).toContain('--pull');
    const bad = await ctl('-n', 'Bad!', 'images', 'ls');
    expect(bad.stderr).toContain('invalid namespace');
    // Two runs of one name at once: one container, and the loser is told the name is taken.
    const racing = await Promise.all([1, 2].map(() => ctl('-n', 'moby', 'run', bed.busybox.reference, 'dup', 'sleep', '1000')));
    expect(racing.map((r) => r.code).sort()).toEqual([0, 1]);
    expect(racing.find((r) => r.code === 1)?.stderr).toContain('ALREADY_EXISTS');
    expect((await json<{ name: string; state: string }[]>('-n', 'moby', 'containers', 'ls')).map((c) => [c.name, c.state])).toEqual([['dup', 'CONTAINER_RUNNING']]);
    await ok('-n', 'moby', 'rm', 'dup');
    // Listing a namespace that does not exist creates nothing.
    expect(await json<unknown[]>('-n', 'typo', 'containers', 'ls')).toEqual([]);
    expect(existsSync(join(bed.daemon.root, 'metadata', 'typo'))).toBe(false);
    const usage = await ctl('frobnicate');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('Usage: berthctl');
  });

  it('reports versions, and says where it looked when berthd is unreachable', async () => {
    const v = await json<{ client: { version: string }; server: { cri_api_version: string } }>('version');
    expect(v.server.cri_api_version).toBe('v1');
    const unreachable = await execa(process.execPath, [BERTHCTL, '--address', join(bed.daemon.dir, 'nothing.sock'), 'images', 'ls'], { reject: false });
    expect(unreachable.stderr).toContain('cannot reach berthd');
  });
});
