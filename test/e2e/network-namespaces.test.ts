import { mkdtemp, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isBerthError } from '../../daemon/errors/errors.js';
import { NAMESPACE_THREAD_NAME, NamespacePins } from '../../daemon/linux/namespace-pins.js';
import { execa } from 'execa';
import { BERTHD_MAIN } from '../harness/berthd.js';
import { inNetns, mountsUnder, removePinRoot, threadNamespaces, threadsNamed } from '../harness/network.js';

/** Open descriptors of this process that refer to a namespace (the worker holds three while it lives). */
async function namespaceFds(): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (/^(net|ipc|uts):\[/.test(target)) count++;
  }
  return count;
}

/** A TCP connection to 127.0.0.1 and back, inside one process: prints what the listener received. */
const LOOPBACK_ROUND_TRIP = `const net = require('net');
const s = net.createServer((c) => c.on('data', (d) => { process.stdout.write(d); c.end(); s.close(); }));
s.listen(0, '127.0.0.1', () => net.connect(s.address().port, '127.0.0.1', function () { this.end('over lo'); }));`;

describe('namespace pins', () => {
  let state: string;
  let pins: NamespacePins;
  const home = { net: '', ipc: '', uts: '' };

  beforeAll(async () => {
    state = await mkdtemp('/var/tmp/berth-ns-');
    pins = new NamespacePins(state);
    for (const kind of ['net', 'ipc', 'uts'] as const) home[kind] = await readlink(`/proc/self/ns/${kind}`);
  });

  afterAll(async () => {
    await pins.close();
    await removePinRoot(state);
  });

  test('creates net, ipc and uts namespaces with the hostname set, leaving every daemon thread where it was', async () => {
    const hostBefore = hostname();
    const paths = await pins.create('pod-a', { kinds: ['net', 'ipc', 'uts'], hostname: 'pod-a-host' });
    expect(paths).toEqual({ net: `${state}/netns/pod-a`, ipc: `${state}/ns/pod-a/ipc`, uts: `${state}/ns/pod-a/uts` });
    for (const path of Object.values(paths)) expect(await NamespacePins.isPinned(path)).toBe(true);

    // The pins are distinct, new namespaces.
    const { stdout: podNet } = await execa('nsenter', [`--net=${paths.net}`, 'readlink', '/proc/self/ns/net']);
    expect(podNet).not.toBe(home.net);
    const { stdout: podHost } = await execa('nsenter', [`--uts=${paths.uts}`, 'hostname']);
    expect(podHost).toBe('pod-a-host');
    const { stdout: podIpc } = await execa('nsenter', [`--ipc=${paths.ipc}`, 'readlink', '/proc/self/ns/ipc']);
    expect(podIpc).not.toBe(home.ipc);

    // Every thread of this process (main, libuv pool, the namespace worker) is still in the host namespaces.
    for (const kind of ['net', 'ipc', 'uts'] as const) {
      for (const [tid, link] of await threadNamespaces(kind)) expect(`${tid} ${link}`).toBe(`${tid} ${home[kind]}`);
    }
    expect(hostname()).toBe(hostBefore);

    // The new netns has nothing but lo, and lo is up (as the CNI loopback plugin would leave it): 127.0.0.1 answers.
    const { stdout: links } = await inNetns(paths.net!, ['ip', '-o', 'link']);
    expect(links.trim().split('\n')).toHaveLength(1);
    expect(links).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    const { stdout: addrs } = await inNetns(paths.net!, ['ip', '-o', 'addr', 'show', 'lo']);
    expect(addrs).toContain('inet 127.0.0.1/8');
    const { stdout: echoed } = await inNetns(paths.net!, [process.execPath, '-e', LOOPBACK_ROUND_TRIP]);
    expect(echoed).toBe('over lo');
  });

  test('a pod whose lo cannot come up fails with the pod, the step and the errno, and leaves nothing behind', async () => {
    // Without CAP_NET_ADMIN unshare still works but setting lo's flags is EPERM. Runs the built daemon code in a
    // child process, since capabilities cannot be dropped for one thread of this one.
    const script = `const { NamespacePins } = await import(${JSON.stringify(join(dirname(BERTHD_MAIN), 'linux/namespace-pins.js'))});
const pins = new NamespacePins(${JSON.stringify(join(state, 'nocap'))});
const err = await pins.create('no-lo', { kinds: ['net', 'uts'], hostname: 'no-lo' }).then(() => undefined, (e) => e);
console.log(JSON.stringify({ name: err?.constructor.name, message: err?.message, context: err?.context, left: await pins.list() }));`;
    // A file, not `-e`: the worker thread would inherit --input-type=module and lose `require`.
    const file = join(state, 'no-lo.mjs');
    await writeFile(file, script);
    const { stdout } = await execa('capsh', ['--drop=cap_net_admin', '--', '-c', 'exec "$0" "$1"', process.execPath, file]);
    expect(JSON.parse(stdout)).toEqual({
      name: 'NamespaceSetupError',
      message: 'pod no-lo: bringing up lo in the new network namespace: ioctl(lo, SIOCSIFFLAGS IFF_UP) failed: EPERM',
      context: { id: 'no-lo', step: 'bringing up lo in the new network namespace', syscall: 'ioctl', errno: 'EPERM' },
      left: [],
    });
  });

  test('many pods in parallel, fast after the first', async () => {
    const started = performance.now();
    const ids = Array.from({ length: 8 }, (_, i) => `par-${i}`);
    const created = await Promise.all(ids.map((id) => pins.create(id, { kinds: ['net', 'ipc', 'uts'], hostname: id })));
    const perPod = (performance.now() - started) / ids.length;
    const inodes = await Promise.all(created.map(async (paths) => (await stat(paths.net!)).ino));
    expect(new Set(inodes).size).toBe(ids.length);
    expect(perPod).toBeLessThan(50);
    await Promise.all(ids.map((id) => pins.remove(id)));
  });

  test('net only: no ns/<id> directory, and a hostname without a UTS namespace is refused', async () => {
    const paths = await pins.create('net-only', { kinds: ['net'] });
    expect(Object.keys(paths)).toEqual(['net']);
    await expect(stat(`${state}/ns/net-only`)).rejects.toMatchObject({ code: 'ENOENT' });
    await pins.remove('net-only');
    await expect(pins.create('bad', { kinds: ['net'], hostname: 'x' })).rejects.toSatisfy((err) => isBerthError(err, 'InvalidArgument'));
    expect(hostname()).not.toBe('x');
  });

  test('an id that is not a file name is refused', async () => {
    await expect(pins.create('../etc', { kinds: ['net'] })).rejects.toSatisfy((err) => isBerthError(err, 'InvalidArgument'));
  });

  test('creating a live pin again is AlreadyExists and leaves it alone', async () => {
    await pins.create('dup', { kinds: ['net'] });
    await expect(pins.create('dup', { kinds: ['net'] })).rejects.toSatisfy((err) => isBerthError(err, 'AlreadyExists'));
    expect(await NamespacePins.isPinned(`${state}/netns/dup`)).toBe(true);
    await pins.remove('dup');
  });

  test('removal unmounts and deletes, idempotently, and leaves no mount behind', async () => {
    const paths = await pins.create('gone', { kinds: ['net', 'ipc', 'uts'], hostname: 'gone' });
    // Something still inside the namespace keeps it alive past the detach, without blocking removal.
    const holder = execa('nsenter', [`--net=${paths.net}`, 'sh', '-c', 'echo entered; exec sleep 30']);
    const exited = holder.catch((err: unknown) => err);
    await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
    await pins.remove('gone');
    await pins.remove('gone');
    holder.kill();
    expect(await exited).toMatchObject({ signal: 'SIGTERM' });
    for (const path of Object.values(paths)) await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(stat(`${state}/ns/gone`)).rejects.toMatchObject({ code: 'ENOENT' });
    const left = (await mountsUnder(state)).filter((point) => point.includes('gone'));
    expect(left).toEqual([]);
  });

  test('pin directories are shared mount points, set up once', async () => {
    const { stdout } = await execa('findmnt', ['-n', '-o', 'TARGET,PROPAGATION', '-T', `${state}/netns`]);
    expect(stdout).toMatch(new RegExp(`^${state}/netns\\s+shared`));
    // A second instance (a restarted daemon) finds the directories already shared and does not stack mounts.
    const again = new NamespacePins(state);
    await again.create('restart', { kinds: ['net'] });
    await again.remove('restart');
    await again.close();
    expect((await mountsUnder(state)).filter((point) => point === `${state}/netns`)).toHaveLength(1);
  });

  test('list() names every id with something under the pin directories', async () => {
    await pins.create('listed-a', { kinds: ['net'] });
    await pins.create('listed-b', { kinds: ['ipc'] });
    expect(await pins.list()).toEqual(expect.arrayContaining(['listed-a', 'listed-b']));
    await pins.remove('listed-a');
    await pins.remove('listed-b');
    expect(await pins.list()).not.toEqual(expect.arrayContaining(['listed-a']));
    expect(await new NamespacePins(join(state, 'never-used')).list()).toEqual([]);
  });

  test('closing the worker ends its OS thread and releases its descriptors', async () => {
    await pins.close();
    const fdsBefore = await namespaceFds();
    await pins.create('thread', { kinds: ['net'] });
    expect(await namespaceFds()).toBe(fdsBefore + 3);
    const workers = await threadsNamed(NAMESPACE_THREAD_NAME);
    expect(workers).toHaveLength(1);
    await pins.remove('thread');
    await pins.close();
    expect(await threadsNamed(NAMESPACE_THREAD_NAME)).toEqual([]);
    await expect(stat(`/proc/self/task/${workers[0]}`)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await namespaceFds()).toBe(fdsBefore);
    // A later create starts a fresh worker.
    await pins.create('thread', { kinds: ['net'] });
    await pins.remove('thread');
  });
});
