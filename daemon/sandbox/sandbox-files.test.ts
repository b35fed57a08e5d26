import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PodSandboxConfig__Output } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { resolvConf, writeSandboxFiles } from './sandbox-files.js';

const dns = (servers: string[], searches: string[] = [], options: string[] = []) => ({ servers, searches, options });

describe('sandbox files', () => {
  it('renders resolv.conf from the CRI DNS config, or none without servers', () => {
    expect(resolvConf(dns(['10.96.0.10'], ['ns.svc.cluster.local', 'cluster.local'], ['ndots:5']))).toBe(
      'nameserver 10.96.0.10\nsearch ns.svc.cluster.local cluster.local\noptions ndots:5\n',
    );
    expect(resolvConf(dns([]))).toBeUndefined();
    expect(resolvConf(null)).toBeUndefined();
  });

  it('writes hostname, hosts and resolv.conf; a host-network pod gets the node hosts file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-sandbox-'));
    const config = { dns_config: dns(['1.1.1.1']) } as unknown as PodSandboxConfig__Output;
    const files = await writeSandboxFiles(path.join(dir, 'pod'), config, false, 'web-0');
    expect(await readFile(files.hostname!, 'utf8')).toBe('web-0\n');
    expect(await readFile(files.hosts, 'utf8')).toMatch(/^127\.0\.0\.1\tlocalhost$/m);
    expect(await readFile(files.resolvConf, 'utf8')).toBe('nameserver 1.1.1.1\n');
    const host = await writeSandboxFiles(path.join(dir, 'host'), { dns_config: null } as unknown as PodSandboxConfig__Output, true, 'node');
    expect(await readFile(host.hosts, 'utf8')).toBe(await readFile('/etc/hosts', 'utf8'));
    expect(await readFile(host.resolvConf, 'utf8')).toBe(await readFile('/etc/resolv.conf', 'utf8'));
    await rm(dir, { recursive: true });
  });
});
