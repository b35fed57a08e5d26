import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A bridge network for bench pods, named so it cannot be mistaken for (or collide with) a real node's. */
export interface BenchNetwork {
  name: string;
  bridge: string;
  subnet: string;
}

export const BENCH_NETWORK: BenchNetwork = { name: 'berth-bench', bridge: 'benchbr0', subnet: '10.251.0.0/16' };

/**
 * Write the network's conflist into confDir: bridge + host-local IPAM, and with hostPorts the portmap plugin
 * (which critest's port-mapping spec needs; benches leave it out because it adds iptables work to every pod).
 */
export async function writeBridgeConflist(confDir: string, opts: { hostPorts?: boolean } = {},
  net: BenchNetwork = BENCH_NETWORK): Promise<void> {
  const portmap = { type: 'portmap', capabilities: { portMappings: true } };
  const conflist = {
    cniVersion: '1.0.0',
    name: net.name,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: true,
        ipMasq: false,
        ipam: { type: 'host-local', ranges: [[{ subnet: net.subnet }]], routes: [{ dst: '0.0.0.0/0' }] },
      },
      ...(opts.hostPorts === true ? [portmap] : []),
    ],
  };
  await writeFile(join(confDir, `10-${net.name}.conflist`), JSON.stringify(conflist, null, 2));
}

/**
 * Remove what the network leaves on the host once all pods are gone: host-local's address reservations
 * (kept in /var/lib/cni/networks/<name> across runs) and the bridge device.
 */
export async function removeBridgeNetwork(net: BenchNetwork = BENCH_NETWORK): Promise<void> {
  await rm(join('/var/lib/cni/networks', net.name), { recursive: true, force: true });
  try {
    await run('ip', ['link', 'delete', net.bridge]);
  } catch (err) {
    // The bridge exists only if a pod was ever attached; its absence is the state we want.
    if (!/Cannot find device/.test(String((err as { stderr?: string }).stderr))) throw err;
  }
}
