import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isBerthError } from '../../daemon/errors/errors.js';
import { NamespacePins } from '../../daemon/linux/namespace-pins.js';
import { CniNetworkPlugin } from '../../daemon/network/cni/cni-plugin.js';
import { CniPluginError } from '../../daemon/network/cni/cni-exec.js';
import type { PodNetworkSpec } from '../../daemon/network/network-plugin.js';
import { inNetns, mountsUnder, removeIdlePortmapChains, removePinRoot } from '../harness/network.js';

// Only these test namespaces ever use these bridges and addresses; no traffic leaves them.
const BIN_DIRS = ['/usr/lib/cni'];

let base: string;
let pins: NamespacePins;

beforeAll(async () => {
  base = await mkdtemp('/var/tmp/berth-cni-');
  pins = new NamespacePins(join(base, 'state'));
});

afterAll(async () => {
  await pins.close();
  await removeIdlePortmapChains();
  for (const bridge of ['berthtest0', 'berthtest1', 'berthtest2', 'berthtest3']) await execa('ip', ['link', 'del', bridge], { reject: false });
  await removePinRoot(join(base, 'state'));
  await rm(base, { recursive: true, force: true });
});

interface Net {
  plugin: CniNetworkPlugin;
  confDir: string;
  cacheDir: string;
  ipamDir: string;
}

async function network(label: string, files: Record<string, unknown>, binDirs = BIN_DIRS): Promise<Net> {
  const confDir = join(base, label, 'net.d');
  const cacheDir = join(base, label, 'cache');
  const ipamDir = join(base, label, 'ipam');
  await mkdir(confDir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(confDir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return { plugin: new CniNetworkPlugin({ confDir, binDirs, cacheDir }), confDir, cacheDir, ipamDir };
}

function bridgePlugin(bridge: string, subnet: string, ipamDir: string): Record<string, unknown> {
  return {
    type: 'bridge',
    bridge,
    isGateway: true,
    ipMasq: false,
    ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: ipamDir },
  };
}

function conflist(cniVersion: string, bridge: string, subnet: string, ipamDir: string): Record<string, unknown> {
  return {
    cniVersion,
    name: `berth-${bridge}`,
    plugins: [bridgePlugin(bridge, subnet, ipamDir), { type: 'portmap', capabilities: { portMappings: true } }],
  };
}

async function pod(id: string, extra: Partial<PodNetworkSpec> = {}): Promise<PodNetworkSpec> {
  const { net } = await pins.create(id, { kinds: ['net'] });
  return { id, namespace: 'default', name: `pod-${id}`, uid: `uid-${id}`, netnsPath: net!, portMappings: [], ...extra };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Tiny TCP peers run by node itself inside a netns: the listener prints what one connection sent once the
// sender closes; the sender writes its message and ends. Deterministic where nc's stdin/close handling is not.
const LISTENER = `const s = require('net').createServer((c) => { let d = ''; c.on('data', (b) => (d += b)); c.on('end', () => { process.stdout.write(d); c.end(); s.close(); }); });
s.listen(Number(process.argv[1]), () => process.stderr.write('listening\\n'));`;
const SENDER = `const c = require('net').connect(Number(process.argv[2]), process.argv[1], () => c.end('hello from berth'));
c.on('error', (e) => { console.error(e.message); process.exit(1); }); c.on('close', () => process.exit(0));`;

/** Sends a message over TCP from inside `fromPin` (or the host) to addr:port and returns what the listener got. */
async function tcpRoundTrip(listenPin: string, listenPort: number, fromPin: string | undefined, addr: string, port: number): Promise<string> {
  const listener = inNetns(listenPin, [process.execPath, '-e', LISTENER, String(listenPort)], { timeout: 15_000 });
  await new Promise<void>((resolve, reject) => {
    listener.stderr!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) resolve();
    });
    listener.catch(reject);
  });
  const sender = [process.execPath, '-e', SENDER, addr, String(port)];
  await (fromPin === undefined ? execa(sender[0]!, sender.slice(1), { timeout: 10_000 }) : inNetns(fromPin, sender));
  return (await listener).stdout;
}

async function natRules(): Promise<string> {
  return (await execa('iptables', ['-t', 'nat', '-S'])).stdout;
}

describe('CNI 1.0.0: bridge + host-local + portmap', () => {
  let net: Net;
  let a: PodNetworkSpec;
  let b: PodNetworkSpec;
  let hostPort: number;
  let ipA: string;
  let ipB: string;

  beforeAll(async () => {
    const ipamDir = join(base, 'v1', 'ipam');
    net = await network('v1', { '10-berthtest.conflist': conflist('1.0.0', 'berthtest0', '10.250.0.0/24', ipamDir) });
    hostPort = await freePort();
  });

  test('status is ready', async () => {
    expect(await net.plugin.status()).toEqual({ ready: true });
  });

  test('ADD gives two pods in parallel an address each, with lo up', async () => {
    a = await pod('cni-a');
    b = await pod('cni-b', { portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp' }] });
    const [resultA, resultB] = await Promise.all([net.plugin.setUp(a), net.plugin.setUp(b)]);
    expect(resultA.ips).toHaveLength(1);
    expect(resultB.ips).toHaveLength(1);
    ipA = resultA.ips[0]!;
    ipB = resultB.ips[0]!;
    expect(ipA).toMatch(/^10\.250\.0\.\d+$/);
    expect(ipB).toMatch(/^10\.250\.0\.\d+$/);
    expect(ipA).not.toBe(ipB);
    expect(resultA.addresses[0]).toMatchObject({ address: `${ipA}/24`, gateway: '10.250.0.1', interface: 'eth0' });
    expect(resultA.interfaces.find((i) => i.name === 'eth0')?.sandbox).toBe(a.netnsPath);
    const { stdout: lo } = await inNetns(a.netnsPath, ['ip', '-o', 'addr', 'show', 'lo']);
    expect(lo).toContain('127.0.0.1');
  });

  test('the pods reach each other (ping and TCP)', async () => {
    await inNetns(a.netnsPath, ['busybox', 'ping', '-c', '1', '-W', '2', ipB]);
    expect(await tcpRoundTrip(b.netnsPath, 9000, a.netnsPath, ipB, 9000)).toBe('hello from berth');
  });

  test('portmap forwards the host port to the pod', async () => {
    expect(await natRules()).toContain(`--dport ${hostPort} -j DNAT --to-destination ${ipB}:8080`);
    // Through the bridge's gateway address: a host address that is not loopback, so no route_localnet needed.
    expect(await tcpRoundTrip(b.netnsPath, 8080, undefined, '10.250.0.1', hostPort)).toBe('hello from berth');
  });

  test('CHECK passes for a set-up pod', async () => {
    // Only the pod without host ports: Debian's portmap 1.1.1 fails CHECK of its own IPv4-only rules when
    // ip6tables exists ("could not check ipv6 dnat"), a plugin bug berth can only report.
    await net.plugin.check(a);
  });

  test('DEL after a restart uses the cached result, and twice is fine', async () => {
    const restarted = new CniNetworkPlugin({ confDir: net.confDir, binDirs: BIN_DIRS, cacheDir: net.cacheDir });
    await restarted.tearDown(b);
    await restarted.tearDown(b);
    expect(await natRules()).not.toContain(`${ipB}:8080`);
    // host-local released the address (its reservation files are named by IP).
    expect(await readdir(join(net.ipamDir, 'berth-berthtest0'))).not.toContain(ipB);
    await expect(restarted.check(b)).rejects.toSatisfy((err) => isBerthError(err, 'FailedPrecondition'));
  });

  test('DEL after the netns is gone succeeds and releases the address', async () => {
    await pins.remove(a.id);
    await net.plugin.tearDown(a);
    await net.plugin.tearDown(a);
    expect(await readdir(join(net.ipamDir, 'berth-berthtest0'))).not.toContain(ipA);
    expect(await readdir(net.cacheDir)).toEqual([]);
    await pins.remove(b.id);
    const state = join(base, 'state');
    expect((await mountsUnder(state)).filter((point) => point !== `${state}/netns` && point !== `${state}/ns`)).toEqual([]);
  });
});

describe('other config versions and shapes', () => {
  test('CNI 0.4.0 conflist: ADD, CHECK, DEL', async () => {
    const ipamDir = join(base, 'v04', 'ipam');
    const net = await network('v04', { '10-berthtest.conflist': conflist('0.4.0', 'berthtest1', '10.250.1.0/24', ipamDir) });
    const p = await pod('v04');
    const result = await net.plugin.setUp(p);
    expect(result.ips[0]).toMatch(/^10\.250\.1\.\d+$/);
    await net.plugin.check(p);
    await net.plugin.tearDown(p);
    await net.plugin.tearDown(p);
    await pins.remove(p.id);
  });

  test('CNI 0.3.1 single-plugin .conf is wrapped as a list; the first file in lexical order wins', async () => {
    const ipamDir = join(base, 'v031', 'ipam');
    const net = await network('v031', {
      '20-berthtest.conf': { cniVersion: '0.3.1', name: 'berth-v031', ...bridgePlugin('berthtest2', '10.250.2.0/24', ipamDir) },
      '30-broken.conflist': '{ not json',
    });
    const p = await pod('v031');
    const result = await net.plugin.setUp(p);
    expect(result.ips[0]).toMatch(/^10\.250\.2\.\d+$/);
    // CHECK does not exist before 0.4.0: nothing to run.
    await net.plugin.check(p);
    await net.plugin.tearDown(p);
    await pins.remove(p.id);
  });
});

describe('pod CIDR from UpdateRuntimeConfig', () => {
  test('host-local takes its range from the pod CIDR when the config declares the ipRanges capability', async () => {
    const confDir = join(base, 'cidr', 'net.d');
    await mkdir(confDir, { recursive: true });
    const bridge: Record<string, unknown> = { ...bridgePlugin('berthtest3', 'unused', join(base, 'cidr', 'ipam')), capabilities: { ipRanges: true } };
    delete (bridge['ipam'] as Record<string, unknown>)['ranges'];
    await writeFile(join(confDir, '10-cidr.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'berth-cidr', plugins: [bridge] }));
    // The config names no range: the address can only come from the CIDR.
    const plugin = new CniNetworkPlugin({ confDir, binDirs: BIN_DIRS, cacheDir: join(base, 'cidr', 'cache'), podCidr: () => '10.250.3.0/24' });
    const p = await pod('cidr');
    expect((await plugin.setUp(p)).ips[0]).toMatch(/^10\.250\.3\.\d+$/);
    await plugin.tearDown(p);
    await pins.remove(p.id);
  });
});

describe('not ready and failures', () => {
  test('no config: not ready, naming the directory', async () => {
    const net = await network('empty', {});
    const status = await net.plugin.status();
    expect(status).toMatchObject({ ready: false, reason: 'NetworkPluginNotReady' });
    expect(status.ready === false && status.message).toContain(`no network config found in ${net.confDir}`);
    const p = await pod('noconf');
    await expect(net.plugin.setUp(p)).rejects.toSatisfy((err) => isBerthError(err, 'FailedPrecondition'));
    // Tear-down of a pod that was never set up, with no config at all, is a success.
    await net.plugin.tearDown(p);
    await pins.remove(p.id);
  });

  test('malformed conflist: the message names the file and the problem', async () => {
    const bad = await network('badjson', { '10-bad.conflist': '{"cniVersion": "1.0.0", "name": "x", plugins: []}' });
    const status = await bad.plugin.status();
    expect(status.ready === false && status.message).toContain(`${bad.confDir}/10-bad.conflist is not valid JSON`);
    const noPlugins = await network('noplugins', { '10-empty.conflist': { cniVersion: '1.0.0', name: 'x', plugins: [] } });
    const status2 = await noPlugins.plugin.status();
    expect(status2.ready === false && status2.message).toContain(`${noPlugins.confDir}/10-empty.conflist is invalid: "plugins" must be a non-empty array`);
    const oldVersion = await network('oldversion', { '10-old.conf': { cniVersion: '0.2.0', name: 'x', type: 'bridge' } });
    const status3 = await oldVersion.plugin.status();
    expect(status3.ready === false && status3.message).toContain('"cniVersion" "0.2.0" is not supported');
  });

  test('missing plugin binary: status and setUp name the plugin and the bin dirs', async () => {
    const binDirs = ['/nonexistent/cni', ...BIN_DIRS];
    const net = await network('missing', { '10-x.conflist': { cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'nosuchplugin' }] } }, binDirs);
    const status = await net.plugin.status();
    expect(status.ready === false && status.message).toContain('CNI plugin "nosuchplugin" not found in bin_dirs /nonexistent/cni, /usr/lib/cni');
    const p = await pod('missing');
    await expect(net.plugin.setUp(p)).rejects.toThrow(/"nosuchplugin" not found in bin_dirs \/nonexistent\/cni, \/usr\/lib\/cni/);
    await pins.remove(p.id);
  });

  test('a plugin error becomes a CniPluginError naming the plugin and its message; nothing stays attached', async () => {
    const ipamDir = join(base, 'fail', 'ipam');
    const list = conflist('1.0.0', 'berthtest0', '10.250.0.0/24', ipamDir);
    (list['plugins'] as Record<string, unknown>[]).push({ type: 'tuning', sysctl: { 'net.core.berth_no_such_sysctl': '1' } });
    const net = await network('fail', { '10-fail.conflist': list });
    const p = await pod('fail');
    const err = await net.plugin.setUp(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginError);
    expect((err as CniPluginError).plugin).toBe('tuning');
    expect((err as Error).message).toMatch(/^CNI plugin "tuning" ADD for sandbox fail failed: .*berth_no_such_sysctl/);
    // The bridge's address was given back by the automatic DEL.
    expect((await readdir(join(ipamDir, 'berth-berthtest0'))).filter((name) => /^\d/.test(name))).toEqual([]);
    await expect(stat(join(net.cacheDir, 'fail-eth0.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    await pins.remove(p.id);
  });
});
