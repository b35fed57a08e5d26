import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { PodSandboxConfig__Output } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { mount } from '../../snapshotter/libc.js';
import type { SandboxFiles } from '../oci/spec/mounts.js';

/** kubelet's default pod shm size (the same as Docker's and containerd's). */
export const SHM_SIZE = '64m';
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;

const DEFAULT_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
  '',
].join('\n');

/** resolv.conf from the CRI DNSConfig; undefined when the pod brings none (then the node's is used). */
export function resolvConf(dns: PodSandboxConfig__Output['dns_config']): string | undefined {
  if (dns === null || dns.servers.length === 0) return undefined;
  const lines = dns.servers.map((s) => `nameserver ${s}`);
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the files every container of the pod bind-mounts (hostname, hosts, resolv.conf) into the sandbox dir.
 * A host-network pod sees the node's hosts file and name; a pod without DNS config gets the node's resolver.
 */
export async function writeSandboxFiles(dir: string, config: PodSandboxConfig__Output, hostNetwork: boolean, hostname: string): Promise<Omit<SandboxFiles, 'shm'>> {
  // Root only, like a container bundle: runc bind-mounts these files as root, nobody else needs to enter.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files = { hostname: path.join(dir, 'hostname'), hosts: path.join(dir, 'hosts'), resolvConf: path.join(dir, 'resolv.conf') };
  const dns = resolvConf(config.dns_config);
  await Promise.all([
    writeFile(files.hostname, `${hostname}\n`, { mode: 0o644 }),
    hostNetwork ? copyFile('/etc/hosts', files.hosts) : writeFile(files.hosts, DEFAULT_HOSTS, { mode: 0o644 }),
    dns === undefined ? copyFile('/etc/resolv.conf', files.resolvConf) : writeFile(files.resolvConf, dns, { mode: 0o644 }),
  ]);
  return files;
}

/** Mounts the pod's own /dev/shm (a 64 MiB tmpfs all its containers share) at <dir>/shm. */
export async function mountSandboxShm(dir: string): Promise<string> {
  const shm = path.join(dir, 'shm');
  await mkdir(shm, { recursive: true, mode: 0o1777 });
  mount('shm', shm, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, `mode=1777,size=${SHM_SIZE}`);
  return shm;
}

