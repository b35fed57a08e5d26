import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBerthd, type BerthdHandle } from '../harness/berthd.js';
import { CRICTL } from '../fixtures/crictl.js';

const run = promisify(execFile);

/** crictl is the Kubernetes project's own CRI client: if it understands berth, the wire format is right. */
describe.skipIf(CRICTL === undefined)('crictl against berthd', () => {
  let daemon: BerthdHandle;
  const crictl = async (...args: string[]) => {
    const endpoint = `unix://${daemon.socket}`;
    return run(CRICTL as string, ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '10s', ...args]);
  };

  beforeAll(async () => {
    daemon = await startBerthd();
  });
  afterAll(async () => {
    await daemon?.cleanup();
  });

  it('crictl version', async () => {
    const { stdout } = await crictl('version');
    expect(stdout).toMatch(/RuntimeName:\s+berth/);
    expect(stdout).toMatch(/RuntimeApiVersion:\s+v1/);
  });

  it('crictl info shows the conditions and the effective config', async () => {
    const { stdout } = await crictl('info', '-o', 'json');
    const info = JSON.parse(stdout);
    expect(info.status.conditions.map((c: { type: string; status: boolean }) => [c.type, c.status])).toEqual([
      ['RuntimeReady', true],
      ['NetworkReady', false],
    ]);
    expect(info.config.root).toBe(daemon.root);
    expect(info.configSource).toBe(daemon.configPath);
  });

  it('crictl runtime-config shows the cgroup driver', async () => {
    const { stdout } = await crictl('runtime-config');
    expect(stdout).toMatch(/cgroup driver:\s+CGROUPFS/);
  });
});
