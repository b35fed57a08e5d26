import type { PodInterface, PodNetworkResult } from '../network-plugin.js';
import { isObject } from './cni-config.js';

/**
 * A CNI result as a plugin printed it. Kept whole (not re-serialised from the parsed view) because the next
 * plugin in the chain, and DEL after a restart, must see exactly what the previous plugin returned.
 */
export type CniResult = Record<string, unknown>;

/** Why a result is unusable; the caller names the plugin. */
export function resultProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'the result is not a JSON object';
  const { ips, interfaces } = value;
  if (ips !== undefined && (!Array.isArray(ips) || !ips.every((ip) => isObject(ip) && typeof ip['address'] === 'string'))) {
    return '"ips" must be a list of objects with an "address"';
  }
  if (interfaces !== undefined && (!Array.isArray(interfaces) || !interfaces.every((i) => isObject(i) && typeof i['name'] === 'string'))) {
    return '"interfaces" must be a list of objects with a "name"';
  }
  return undefined;
}

/**
 * The pod's view of a 0.3.x/0.4.0/1.0.0 result (already checked by resultProblem). Pod IPs are the addresses on
 * interfaces inside the sandbox (`interfaces[ip.interface].sandbox` set); an address with no interface index
 * counts too, as plugins such as host-local-only chains omit it. IPv4 first, as kubelet takes the first as primary.
 */
export function podNetworkResult(result: CniResult): PodNetworkResult {
  const interfaces: PodInterface[] = ((result['interfaces'] ?? []) as Record<string, unknown>[]).map((entry) => ({
    name: entry['name'] as string,
    ...(typeof entry['mac'] === 'string' && entry['mac'] !== '' ? { mac: entry['mac'] } : {}),
    ...(typeof entry['sandbox'] === 'string' && entry['sandbox'] !== '' ? { sandbox: entry['sandbox'] } : {}),
  }));
  const addresses = ((result['ips'] ?? []) as Record<string, unknown>[])
    .map((entry) => {
      const index = typeof entry['interface'] === 'number' ? entry['interface'] : undefined;
      const iface = index === undefined ? undefined : interfaces[index];
      return {
        address: entry['address'] as string,
        ...(typeof entry['gateway'] === 'string' ? { gateway: entry['gateway'] } : {}),
        ...(iface === undefined ? {} : { interface: iface.name }),
        inSandbox: index === undefined || iface?.sandbox !== undefined,
      };
    })
    .filter((entry) => entry.inSandbox)
    .map(({ inSandbox: _inSandbox, ...entry }) => entry)
    .sort((a, b) => Number(a.address.includes(':')) - Number(b.address.includes(':')));
  return { ips: addresses.map((entry) => entry.address.split('/')[0]!), addresses, interfaces };
}
