import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniPluginError } from './cni-exec.js';
import { CniNetworkPlugin } from './cni-plugin.js';
import type { PodNetworkSpec } from '../network-plugin.js';

/*
 * Pins down what berth feeds plugins (stdin, environment, order, prevResult, runtimeConfig) with a recording
 * plugin: a shell script that logs each call as one JSON line and answers ADD with an address chosen by its
 * name. Real plugins are exercised in test/e2e/network-cni.test.ts.
 */
const RECORDER = `#!/bin/sh
name=$(basename "$0")
stdin=$(cat)
printf '{"command":"%s","plugin":"%s","containerId":"%s","netns":"%s","ifName":"%s","args":"%s","path":"%s","stdin":%s}\\n' \\
  "$CNI_COMMAND" "$name" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$stdin" >> "$(dirname "$0")/calls.log"
case "$name:$CNI_COMMAND" in
  fail:ADD) echo '{"cniVersion":"1.0.0","code":7,"msg":"invalid network config","details":"subnet overlaps"}'; exit 1 ;;
  crash:ADD) echo 'panic: nil map' >&2; exit 2 ;;
  rec-a:ADD) ip=10.1.0.2/24 ;;
  rec-b:ADD) ip=10.1.0.3/24 ;;
  *:ADD) ip=127.0.0.1/8 ;;
  *) exit 0 ;;
esac
printf '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"%s"}],"ips":[{"address":"%s","interface":0}],"from":"%s"}\\n' "$CNI_NETNS" "$ip" "$name"
`;

interface Call {
  command: string;
  plugin: string;
  containerId: string;
  netns: string;
  ifName: string;
  args: string;
  path: string;
  stdin: Record<string, unknown>;
}

let base: string;
let bin: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'berth-cniplugin-'));
  bin = join(base, 'bin');
  await mkdir(bin);
  for (const name of ['loopback', 'rec-a', 'rec-b', 'fail', 'crash']) {
    await writeFile(join(bin, name), RECORDER);
    await chmod(join(bin, name), 0o755);
  }
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function setup(label: string, config: object, podCidr = ''): Promise<{ plugin: CniNetworkPlugin; calls: () => Promise<Call[]> }> {
  const confDir = join(base, label, 'net.d');
  await mkdir(confDir, { recursive: true });
  await writeFile(join(confDir, '10-test.conflist'), JSON.stringify(config));
  await rm(join(bin, 'calls.log'), { force: true });
  const plugin = new CniNetworkPlugin({ confDir, binDirs: ['/nonexistent', bin], cacheDir: join(base, label, 'cache'), podCidr: () => podCidr });
  const calls = async () => (await readFile(join(bin, 'calls.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Call);
  return { plugin, calls };
}

const pod: PodNetworkSpec = {
  id: 'sandbox1',
  namespace: 'ns1',
  name: 'web',
  uid: 'uid-1',
  netnsPath: '/nonexistent/netns/sandbox1',
  portMappings: [
    { hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIp: '' },
    { hostPort: 0, containerPort: 9090, protocol: 'tcp' },
    { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIp: '127.0.0.1' },
  ],
  bandwidth: { ingressRate: 1000000, egressRate: 2000000 },
  dns: { servers: ['10.96.0.10'], searches: ['ns1.svc.cluster.local'], options: ['ndots:5'] },
};

const chain = (cniVersion: string) => ({
  cniVersion,
  name: 'recnet',
  plugins: [
    { type: 'rec-a', capabilities: { portMappings: true, ipRanges: true }, extra: 1 },
    { type: 'rec-b', capabilities: { bandwidth: true, dns: true, portMappings: false } },
  ],
});

describe('CniNetworkPlugin protocol', () => {
  it('ADD: the chain in order with prevResult, injected name/version and declared capabilities only; never the loopback plugin', async () => {
    const { plugin, calls } = await setup('add', chain('1.0.0'), '10.1.0.0/24');
    const result = await plugin.setUp(pod);
    expect(result.ips).toEqual(['10.1.0.3']);
    const log = await calls();
    // lo is brought up by NamespacePins, not by a `loopback` plugin, even when bin_dirs has one.
    expect(log.map((call) => `${call.command} ${call.plugin}`)).toEqual(['ADD rec-a', 'ADD rec-b']);
    for (const call of log) {
      expect(call).toMatchObject({
        containerId: 'sandbox1',
        netns: pod.netnsPath,
        ifName: 'eth0',
        args: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sandbox1;K8S_POD_UID=uid-1',
        path: `/nonexistent:${bin}`,
      });
    }
    expect(log[0]!.stdin).toEqual({
      type: 'rec-a',
      capabilities: { portMappings: true, ipRanges: true },
      extra: 1,
      name: 'recnet',
      cniVersion: '1.0.0',
      runtimeConfig: {
        ipRanges: [[{ subnet: '10.1.0.0/24' }]],
        portMappings: [
          { hostPort: 8080, containerPort: 80, protocol: 'tcp' },
          { hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' },
        ],
      },
    });
    expect(log[1]!.stdin['prevResult']).toMatchObject({ from: 'rec-a', ips: [{ address: '10.1.0.2/24', interface: 0 }] });
    expect(log[1]!.stdin['runtimeConfig']).toEqual({
      bandwidth: { ingressRate: 1000000, egressRate: 2000000 },
      dns: { servers: ['10.96.0.10'], searches: ['ns1.svc.cluster.local'], options: ['ndots:5'] },
    });
  });

  it('DEL: reverse order, the ADD result as prevResult, cached runtime config, empty CNI_NETNS when the netns is gone', async () => {
    const { plugin, calls } = await setup('del', chain('1.0.0'));
    await plugin.setUp(pod);
    await rm(join(bin, 'calls.log'));
    await plugin.tearDown({ id: pod.id, namespace: pod.namespace, name: pod.name, uid: pod.uid, netnsPath: pod.netnsPath });
    const log = await calls();
    expect(log.map((call) => `${call.command} ${call.plugin} ${call.netns}`)).toEqual(['DEL rec-b ', 'DEL rec-a ']);
    for (const call of log) expect(call.stdin['prevResult']).toMatchObject({ from: 'rec-b' });
    expect(log[1]!.stdin['runtimeConfig']).toMatchObject({ portMappings: [{ hostPort: 8080 }, { hostPort: 5353 }] });
  });

  it('0.3.x: DEL carries no prevResult and CHECK runs nothing', async () => {
    const { plugin, calls } = await setup('v03', chain('0.3.1'));
    await plugin.setUp(pod);
    await rm(join(bin, 'calls.log'));
    await plugin.check(pod);
    await plugin.tearDown(pod);
    const log = await calls();
    expect(log.map((call) => `${call.command} ${call.plugin}`)).toEqual(['DEL rec-b', 'DEL rec-a']);
    for (const call of log) expect(call.stdin['prevResult']).toBeUndefined();
  });

  it('a plugin error names the plugin, code, message and details, and the partial set-up is deleted', async () => {
    const { plugin, calls } = await setup('fail', { cniVersion: '1.0.0', name: 'recnet', plugins: [{ type: 'rec-a' }, { type: 'fail' }] });
    const err = await plugin.setUp(pod).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginError);
    expect(err).toMatchObject({ plugin: 'fail', command: 'ADD', code: 7, kind: 'Internal' });
    expect((err as Error).message).toBe('CNI plugin "fail" ADD for sandbox sandbox1 failed: [code 7] invalid network config: subnet overlaps');
    const log = await calls();
    expect(log.map((call) => `${call.command} ${call.plugin}`)).toEqual(['ADD rec-a', 'ADD fail', 'DEL fail', 'DEL rec-a']);
    expect(log[2]!.stdin['prevResult']).toMatchObject({ from: 'rec-a' });
  });

  it('is ready with no loopback binary in bin_dirs', async () => {
    const confDir = join(base, 'noloop', 'net.d');
    const onlyRecA = join(base, 'noloop', 'bin');
    await mkdir(confDir, { recursive: true });
    await mkdir(onlyRecA, { recursive: true });
    await writeFile(join(confDir, '10-test.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'recnet', plugins: [{ type: 'rec-a' }] }));
    await writeFile(join(onlyRecA, 'rec-a'), RECORDER);
    await chmod(join(onlyRecA, 'rec-a'), 0o755);
    const plugin = new CniNetworkPlugin({ confDir, binDirs: [onlyRecA], cacheDir: join(base, 'noloop', 'cache') });
    expect(await plugin.status()).toEqual({ ready: true });
  });

  it('a plugin that dies without a CNI error reports its exit status and stderr', async () => {
    const { plugin } = await setup('crash', { cniVersion: '1.0.0', name: 'recnet', plugins: [{ type: 'crash' }] });
    await expect(plugin.setUp(pod)).rejects.toThrow('CNI plugin "crash" ADD for sandbox sandbox1 failed: exit status 2: panic: nil map');
  });

  it('many sandboxes at once each get their own attachment, listed until torn down', async () => {
    const { plugin } = await setup('parallel', { cniVersion: '1.0.0', name: 'recnet', plugins: [{ type: 'rec-a' }] });
    const pods = Array.from({ length: 6 }, (_, i) => ({ ...pod, id: `p${i}`, portMappings: [] }));
    const results = await Promise.all(pods.map((p) => plugin.setUp(p)));
    expect(results.map((r) => r.ips[0])).toEqual(pods.map(() => '10.1.0.2'));
    const refs = (p: PodNetworkSpec) => ({ id: p.id, namespace: p.namespace, name: p.name, uid: p.uid, netnsPath: p.netnsPath });
    expect((await plugin.attachments()).sort((x, y) => x.id.localeCompare(y.id))).toEqual(pods.map(refs));
    await Promise.all(pods.map((p) => plugin.tearDown(p)));
    expect(await plugin.attachments()).toEqual([]);
  });
});
