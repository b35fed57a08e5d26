import { spawn } from 'node:child_process';
import net from 'node:net';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { containerConfig, podConfig, runContainer, usePodTestBed, waitExited, waitFor } from '../fixtures/pods.js';
import { CRICTL } from '../fixtures/crictl.js';

/** HTTP/1.0 GET through a TCP connection to 127.0.0.1:port; resolves with the whole answer. */
function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write(`GET ${path} HTTP/1.0\r\n\r\n`));
    let body = '';
    s.on('data', (d: Buffer) => (body += d.toString()));
    s.on('end', () => resolve(body));
    s.on('error', reject);
  });
}

/** The Kubernetes project's own client against berth's streaming server: client-go's SPDY, not ours. */
describe.skipIf(CRICTL === undefined)('crictl exec, attach and port-forward against berthd', () => {
  const bed = usePodTestBed({ busybox: { config: { Cmd: ['sh'], Env: ['PATH=/bin'] } } });
  let pod: PodSandboxConfig;
  let podId: string;
  let shell: string;
  const args = (...rest: string[]) => ['--runtime-endpoint', `unix://${bed.daemon.socket}`, '--image-endpoint', `unix://${bed.daemon.socket}`, '--timeout', '20s', ...rest];
  const crictl = (rest: string[], input?: string) => execa(CRICTL!, args(...rest), { reject: false, input: input ?? '', timeout: 30_000 });
  const run = (name: string, command: string[], over: Parameters<typeof containerConfig>[3] = {}): Promise<string> =>
    runContainer(bed.daemon.runtime, podId, pod, containerConfig(name, bed.busybox.reference, command, over));

  beforeAll(async () => {
    pod = podConfig('crictl-streaming');
    podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    shell = await run('shell', ['sh', '-c', 'mkdir -p /www && echo served-in-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www']);
  });

  it('crictl exec (streaming) passes stdout, stderr and the exit code; -s runs through ExecSync', async () => {
    // crictl itself exits 1 and names the command's exit code, which it read from the Status berth sent.
    const streamed = await crictl(['exec', shell, 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(streamed.exitCode, streamed.stderr).toBe(1);
    expect(streamed.stdout).toBe('out');
    expect(streamed.stderr).toMatch(/^err$/m);
    expect(streamed.stderr).toContain('command terminated with exit code 7');
    const ok = await crictl(['exec', shell, 'echo', 'fine']);
    expect([ok.exitCode, ok.stdout]).toEqual([0, 'fine']);
    const sync = await crictl(['exec', '-s', shell, 'echo', 'synced']);
    expect([sync.exitCode, sync.stdout.trim()]).toEqual([0, 'synced']);
    const syncFailed = await crictl(['exec', '-s', shell, 'sh', '-c', 'exit 3']);
    expect(syncFailed.exitCode).toBe(1);
    expect(syncFailed.stderr).toContain('exited with 3');
  });

  it('crictl exec -i passes stdin until EOF', async () => {
    const r = await crictl(['exec', '-i', shell, 'sh', '-c', 'cat; echo " <eof>"'], 'piped input');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('piped input <eof>');
  });

  it('crictl exec -i -t gives the command a terminal', async () => {
    // script(1) gives crictl a terminal of its own, as an operator's shell would.
    const cmd = [CRICTL!, ...args('exec', '-i', '-t', shell, 'sh', '-c', 'tty; echo "tty-ok $((6*7))"; exit 4')].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const r = await execa('script', ['-qec', cmd, '/dev/null'], { reject: false, input: '', timeout: 30_000 });
    expect(r.stdout).toContain('tty-ok 42');
    expect(r.stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(r.stdout).toContain('command terminated with exit code 4');
  });

  it('crictl attach reaches a container started with stdin', async () => {
    const id = await run('reader', ['sh', '-c', 'read line; echo "got $line"'], { stdin: true, stdin_once: true });
    const r = await crictl(['attach', '-i', id], 'hello\n');
    expect(r.stdout, r.stderr).toContain('got hello');
    expect(await waitExited(bed.daemon.runtime, id)).toMatchObject({ exit_code: 0 });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('crictl port-forward reaches a server on the pod loopback', async () => {
    const port = 20000 + (process.pid % 20000);
    const child = spawn(CRICTL!, args('port-forward', podId, `${port}:8080`), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('crictl to listen', async () => (out.includes('Forwarding from') ? true : undefined), 15_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${out}`);
      });
      const answers = await Promise.all([httpGet(port, '/index.html'), httpGet(port, '/index.html')]);
      for (const a of answers) expect(a).toContain('served-in-pod');
    } finally {
      child.kill();
    }
  });
});
