import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CniPluginError, execPlugin, type CniInvocation } from './cni-exec.js';

let dir = '';
const invocation = (overrides: Partial<CniInvocation> = {}): CniInvocation => ({
  command: 'ADD', containerId: 'sb1', netns: '/run/netns/x', ifName: 'eth0', args: 'K8S_POD_NAME=p', binDirs: [dir], timeoutMs: 5000, ...overrides,
});

function plugin(name: string, script: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return file;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cni-exec-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('execPlugin (on the plugin thread)', () => {
  it('hands the config on stdin and CNI_* in the environment, and parses the answer', async () => {
    const bin = plugin('echoer', 'read -r conf; printf \'{"conf":%s,"cmd":"%s","id":"%s","netns":"%s","if":"%s","args":"%s","path":"%s"}\' "$conf" "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH"');
    const out = await execPlugin('echoer', bin, invocation(), { cniVersion: '1.0.0', name: 'n' });
    expect(out).toEqual({ conf: { cniVersion: '1.0.0', name: 'n' }, cmd: 'ADD', id: 'sb1', netns: '/run/netns/x', if: 'eth0', args: 'K8S_POD_NAME=p', path: dir });
  });

  it('returns undefined for a plugin that prints nothing, and runs plugins side by side', async () => {
    const bin = plugin('quiet', 'cat >/dev/null; sleep 0.2');
    const t0 = Date.now();
    const outs = await Promise.all([1, 2, 3, 4].map(() => execPlugin('quiet', bin, invocation({ command: 'DEL' }), {})));
    expect(outs).toEqual([undefined, undefined, undefined, undefined]);
    expect(Date.now() - t0).toBeLessThan(700);
  });

  it('reports a CNI error with its code, a bare failure with its status and stderr, and output that is not JSON', async () => {
    const cniError = plugin('cnierr', 'echo \'{"code":7,"msg":"bad config","details":"no ipam"}\'; exit 1');
    await expect(execPlugin('cnierr', cniError, invocation(), {})).rejects.toMatchObject({ code: 7, message: expect.stringContaining('[code 7] bad config: no ipam') });
    const bare = plugin('bare', 'echo oops >&2; exit 3');
    await expect(execPlugin('bare', bare, invocation(), {})).rejects.toThrow(/CNI plugin "bare" ADD for sandbox sb1 failed: exit status 3: oops/);
    const garbage = plugin('garbage', 'echo not-json');
    await expect(execPlugin('garbage', garbage, invocation(), {})).rejects.toThrow(/printed output that is not JSON: not-json/);
  });

  it('kills a plugin that does not answer in time, and names a binary that cannot run', async () => {
    const slow = plugin('slow', 'exec sleep 10');
    const err = await execPlugin('slow', slow, invocation({ timeoutMs: 200 }), {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginError);
    expect((err as Error).message).toMatch(/no answer within 200 ms; killed/);
    await expect(execPlugin('missing', path.join(dir, 'missing'), invocation(), {})).rejects.toThrow(/could not run .*missing: spawn .*ENOENT/);
  });
});
