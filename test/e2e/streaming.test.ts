import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PodSandboxConfig } from '../../proto/gen/runtime/v1/PodSandboxConfig.js';
import { containerConfig, podConfig, runContainer, usePodTestBed, waitExited, waitFor } from '../fixtures/pods.js';
import { rejectionOf } from '../fixtures/rejection.js';
import { spdyPortForward, spdyRemoteCommand, upgrade, UpgradeRefused, wsPortForward, wsRemoteCommand } from '../fixtures/streaming-clients.js';

const grpcFailure = async (p: Promise<unknown>): Promise<ServiceError> => (await rejectionOf(p)) as ServiceError;
/** Short, so the expiry test need not wait a minute; every other test connects at once. */
const TOKEN_TTL_MS = 3000;

function parseStatus(text: string): { status: string; reason?: string; details?: { causes: Array<{ reason: string; message: string }> } } {
  return JSON.parse(text);
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
/** Direct children of `pid` (the shim's: runc, exec'd processes waiting to be reaped). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * Exec, Attach and PortForward through berthd's socket and real HTTP upgrades on its streaming server, with
 * the SPDY and WebSocket clients of test/fixtures/streaming-clients.ts speaking client-go's protocols.
 */
describe('CRI streaming', () => {
  const bed = usePodTestBed({ busybox: { config: { Cmd: ['sh'], Env: ['PATH=/bin'] } }, berthd: { config: { cri: { stream_token_ttl: `${TOKEN_TTL_MS}ms` } } } });
  let pod: PodSandboxConfig;
  let podId: string;
  let shell: string;

  const run = (name: string, command: string[], over: Parameters<typeof containerConfig>[3] = {}): Promise<string> =>
    runContainer(bed.daemon.runtime, podId, pod, containerConfig(name, bed.busybox.reference, command, over));
  const execUrl = async (cmd: string[], stdio: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean }, id = shell): Promise<string> =>
    (await bed.daemon.runtime.Exec({ container_id: id, cmd, stdin: false, stdout: false, stderr: false, tty: false, ...stdio })).url;

  beforeAll(async () => {
    pod = podConfig('streaming', { log_directory: join(bed.daemon.dir, 'pod-logs') });
    podId = (await bed.daemon.runtime.RunPodSandbox({ config: pod })).pod_sandbox_id;
    shell = await run('shell', ['sleep', '100000']);
  });

  it('validates Exec, Attach and PortForward requests', async () => {
    const missing = await grpcFailure(bed.daemon.runtime.Exec({ container_id: 'nope', cmd: ['true'], stdout: true }));
    expect(missing.code).toBe(GrpcStatus.NOT_FOUND);
    expect(missing.details).toContain('nope');
    const noStdio = await grpcFailure(bed.daemon.runtime.Exec({ container_id: shell, cmd: ['true'] }));
    expect(noStdio.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const ttyStderr = await grpcFailure(bed.daemon.runtime.Attach({ container_id: shell, tty: true, stdout: true, stderr: true }));
    expect(ttyStderr.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(ttyStderr.details).toMatch(/tty and stderr/);
    const noCmd = await grpcFailure(bed.daemon.runtime.Exec({ container_id: shell, cmd: [], stdout: true }));
    expect(noCmd.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const done = await run('done', ['true']);
    await waitExited(bed.daemon.runtime, done);
    const exited = await grpcFailure(bed.daemon.runtime.Exec({ container_id: done, cmd: ['true'], stdout: true }));
    expect(exited.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(exited.details).toContain(done);
    await bed.daemon.runtime.RemoveContainer({ container_id: done });
    const noPod = await grpcFailure(bed.daemon.runtime.PortForward({ pod_sandbox_id: 'nope', port: [80] }));
    expect(noPod.code).toBe(GrpcStatus.NOT_FOUND);
    const { url } = await bed.daemon.runtime.Exec({ container_id: shell, cmd: ['true'], stdout: true });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{32}$/);
  });

  it('exec over SPDY keeps stdout and stderr apart and reports the exit code in a Status', async () => {
    const failing = await spdyRemoteCommand(await execUrl(['sh', '-c', 'echo out; echo err >&2; exit 3'], { stdout: true, stderr: true }), { stdout: true, stderr: true });
    expect(failing.protocol).toBe('v4.channel.k8s.io');
    const r = await failing.done;
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(parseStatus(r.error)).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
    const ok = await (await spdyRemoteCommand(await execUrl(['echo', 'fine'], { stdout: true }), { stdout: true })).done;
    expect(ok.stdout).toBe('fine\n');
    expect(parseStatus(ok.error)).toEqual({ metadata: {}, status: 'Success' });
  });

  it('an exec that cannot start ends with a Failure status naming the reason', async () => {
    const r = await (await spdyRemoteCommand(await execUrl(['/no/such/binary'], { stdout: true }), { stdout: true })).done;
    const status = JSON.parse(r.error) as { status: string; message: string };
    expect(status.status).toBe('Failure');
    expect(status.message).toMatch(/no\/such\/binary|no such file/i);
  });

  it('exec over SPDY carries output larger than a SPDY window', async () => {
    const big = await (await spdyRemoteCommand(await execUrl(['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x'], { stdout: true }), { stdout: true })).done;
    expect(big.stdout.length).toBe(300_000);
  });

  it('exec over SPDY with an older protocol reports a failure as text', async () => {
    const client = await spdyRemoteCommand(await execUrl(['sh', '-c', 'exit 2'], { stdout: true }), { stdout: true }, ['v2.channel.k8s.io']);
    expect(client.protocol).toBe('v2.channel.k8s.io');
    expect((await client.done).error).toMatch(/exit(ed with)? .*2/);
  });

  it('exec over WebSocket v5 pipes stdin until the close signal', async () => {
    const client = await wsRemoteCommand(await execUrl(['sh', '-c', 'cat; echo done >&2; exit 4'], { stdin: true, stdout: true, stderr: true }));
    expect(client.protocol).toBe('v5.channel.k8s.io');
    client.write('hello ');
    client.write('world');
    client.closeStdin();
    const r = await client.done;
    expect(r.stdout).toBe('hello world');
    expect(r.stderr).toBe('done\n');
    expect(parseStatus(r.error)).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '4' }] } });
  });

  it('exec over WebSocket v4', async () => {
    const client = await wsRemoteCommand(await execUrl(['echo', 'v4'], { stdout: true }), ['v4.channel.k8s.io']);
    expect(client.protocol).toBe('v4.channel.k8s.io');
    const r = await client.done;
    expect(r.stdout).toBe('v4\n');
    expect(parseStatus(r.error).status).toBe('Success');
  });

  it('exec with a tty takes typed input and resizes the terminal', async () => {
    for (const connect of [
      (url: string) => spdyRemoteCommand(url, { stdin: true, stdout: true, tty: true }),
      (url: string) => wsRemoteCommand(url),
    ]) {
      const client = await connect(await execUrl(['sh'], { stdin: true, stdout: true, tty: true }));
      client.resize(123, 45);
      await new Promise((r) => setTimeout(r, 200));
      client.write('stty size; echo typed-$((6*7))\r');
      await waitFor('the shell to answer', async () => (client.stdout().includes('typed-42') ? true : undefined), 10_000);
      client.resize(77, 22);
      await new Promise((r) => setTimeout(r, 200));
      client.write('stty size; exit 5\r');
      const r = await client.done;
      expect(r.stdout).toContain('45 123');
      expect(r.stdout).toContain('22 77');
      expect(parseStatus(r.error)).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ message: '5' }] } });
    }
  });

  it('attaches to a container started with stdin and a tty; its output still reaches the CRI log', async () => {
    const id = await run('interactive', ['sh'], { stdin: true, tty: true });
    const { url } = await bed.daemon.runtime.Attach({ container_id: id, stdin: true, stdout: true, tty: true });
    expect(url).toContain('/attach/');
    const client = await spdyRemoteCommand(url, { stdin: true, stdout: true, tty: true });
    client.resize(90, 30);
    await new Promise((r) => setTimeout(r, 200));
    client.write('echo attached-$((6*7)); stty size\r');
    await waitFor('the attached shell to answer', async () => (/30 90/.test(client.stdout()) ? true : undefined), 10_000);
    expect(client.stdout()).toContain('attached-42');
    client.write('exit 0\r');
    const r = await client.done;
    expect(parseStatus(r.error).status).toBe('Success');
    expect(await waitExited(bed.daemon.runtime, id)).toMatchObject({ exit_code: 0 });
    expect(await readFile(join(bed.daemon.dir, 'pod-logs', 'interactive.log'), 'utf8')).toContain('attached-42');
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('attach over WebSocket to a container with stdin (no tty) sends separate stdout and stderr', async () => {
    const id = await run('piped', ['sh', '-c', 'while read line; do echo "got $line"; echo "warn $line" >&2; done'], { stdin: true });
    const { url } = await bed.daemon.runtime.Attach({ container_id: id, stdin: true, stdout: true, stderr: true });
    const client = await wsRemoteCommand(url);
    client.write('one\n');
    await waitFor('the attached loop to answer', async () => (client.stdout().includes('got one') ? true : undefined), 10_000);
    client.destroy();
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 0 });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('port-forwards to a server listening only on the pod loopback, over SPDY and WebSocket', async () => {
    const id = await run('web', ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && httpd -p 127.0.0.1:8080 -h /www && httpd -f -p 127.0.0.1:8081 -h /www']);
    const { url } = await bed.daemon.runtime.PortForward({ pod_sandbox_id: podId, port: [8080] });
    expect(url).toContain('/portforward/');
    // The servers listen on the pod's loopback only: nothing outside the pod's network namespace reaches them.
    const listening = async () => (await bed.daemon.runtime.ExecSync({ container_id: id, cmd: ['netstat', '-ltn'], timeout: 10 })).stdout.toString();
    await waitFor('httpd to listen', async () => (/127\.0\.0\.1:8081/.test(await listening()) ? true : undefined), 10_000);
    expect(await listening()).not.toMatch(/(0\.0\.0\.0|:::):808[01]/);
    const forward = await spdyPortForward(url);
    const get = async (port: number): Promise<string> => {
      const conn = await forward.connect(port);
      let body = '';
      conn.data.on('data', (d: Buffer) => (body += d.toString()));
      const ended = new Promise((r) => conn.data.on('end', r));
      conn.data.write('GET /index.html HTTP/1.0\r\n\r\n');
      await ended;
      return body;
    };
    await waitFor('httpd in the pod', async () => ((await get(8081)).includes('hello-from-pod') ? true : undefined), 10_000);
    // Several ports and concurrent connections over one SPDY connection.
    const bodies = await Promise.all([get(8080), get(8081), get(8080), get(8081)]);
    for (const body of bodies) expect(body).toContain('hello-from-pod');
    const nothing = await forward.connect(9);
    expect(await nothing.error).toMatch(/port 9.*refused|ECONNREFUSED/i);
    forward.close();

    const { url: wsUrl } = await bed.daemon.runtime.PortForward({ pod_sandbox_id: podId, port: [] });
    const ws = await wsPortForward(wsUrl, [8080, 8081]);
    ws.send(0, 'GET /index.html HTTP/1.0\r\n\r\n');
    ws.send(1, 'GET /index.html HTTP/1.0\r\n\r\n');
    await waitFor('both forwarded answers', async () => (ws.received(0).includes('hello-from-pod') && ws.received(1).includes('hello-from-pod') ? true : undefined), 10_000).catch((err) => {
      throw new Error(`${err}: ${JSON.stringify([ws.received(0), ws.received(1), ws.errors(0), ws.errors(1), [...ws.prefixes]])}`);
    });
    expect([...ws.prefixes.entries()].sort()).toEqual([[0, 8080], [1, 8080], [2, 8081], [3, 8081]]);
    ws.close();

    // Sessions come and go without leaving a socket, netns descriptor or pod connection in the daemon.
    const session = async () => {
      const f = await spdyPortForward((await bed.daemon.runtime.PortForward({ pod_sandbox_id: podId, port: [8081] })).url);
      const conn = await f.connect(8081);
      let body = '';
      conn.data.on('data', (d: Buffer) => (body += d.toString()));
      const ended = new Promise((r) => conn.data.on('end', r));
      conn.data.write('GET /index.html HTTP/1.0\r\n\r\n');
      await ended;
      f.close();
      expect(body).toContain('hello-from-pod');
    };
    await session();
    await new Promise((r) => setTimeout(r, 300));
    const before = fdCount(bed.daemon.pid);
    for (let i = 0; i < 30; i++) await session();
    const after = await waitFor('descriptors to settle', async () => (fdCount(bed.daemon.pid) <= before ? fdCount(bed.daemon.pid) : undefined), 10_000).catch(() => fdCount(bed.daemon.pid));
    expect(after).toBeLessThanOrEqual(before);
    await bed.daemon.runtime.StopContainer({ container_id: id, timeout: 0 });
    await bed.daemon.runtime.RemoveContainer({ container_id: id });
  });

  it('a URL works once, unknown tokens get 404, and tokens expire', async () => {
    const url = await execUrl(['true'], { stdout: true });
    await (await spdyRemoteCommand(url, { stdout: true })).done;
    const reused = await rejectionOf(spdyRemoteCommand(url, { stdout: true }));
    expect(reused).toBeInstanceOf(UpgradeRefused);
    expect((reused as UpgradeRefused).statusCode).toBe(404);
    const ws = await rejectionOf(wsRemoteCommand(url));
    expect((ws as UpgradeRefused).statusCode).toBe(404);
    const base = url.slice(0, url.lastIndexOf('/'));
    expect(((await rejectionOf(upgrade(`${base}/not-a-token`, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' }))) as UpgradeRefused).statusCode).toBe(404);
    const late = await execUrl(['true'], { stdout: true });
    await new Promise((r) => setTimeout(r, TOKEN_TTL_MS + 500));
    expect(((await rejectionOf(spdyRemoteCommand(late, { stdout: true }))) as UpgradeRefused).statusCode).toBe(404);
    // A token is for its own kind of session only.
    const forAttach = url.replace(/\/exec\/.*/, '/attach/') + (await execUrl(['true'], { stdout: true })).split('/').pop();
    expect(((await rejectionOf(spdyRemoteCommand(forAttach, { stdout: true }))) as UpgradeRefused).statusCode).toBe(404);
  });

  it('an exec whose client disappears is killed', async () => {
    const client = await spdyRemoteCommand(await execUrl(['sh', '-c', 'echo started; exec sleep 4242'], { stdout: true }), { stdout: true });
    await waitFor('the exec to start', async () => (client.stdout().includes('started') ? true : undefined), 10_000);
    const running = async () => (await bed.daemon.runtime.ExecSync({ container_id: shell, cmd: ['ps'], timeout: 10 })).stdout.toString().includes('sleep 4242');
    expect(await running()).toBe(true);
    client.destroy();
    await waitFor('the exec to be killed', async () => ((await running()) ? undefined : true), 10_000);
  });

  it('100 sequential execs leave no process or descriptor behind in the daemon or the shim', async () => {
    const shimPid = Number(readFileSync(join(bed.daemon.state, 'k8s.io', shell, 'shim.pid'), 'utf8'));
    const once = async (i: number) => {
      const client = i % 2 === 0
        ? await spdyRemoteCommand(await execUrl(['echo', `n${i}`], { stdout: true, stderr: true }), { stdout: true, stderr: true })
        : await wsRemoteCommand(await execUrl(['echo', `n${i}`], { stdout: true, stderr: true }));
      const res = await client.done;
      expect(res.stdout, res.error).toBe(`n${i}\n`);
    };
    for (let i = 0; i < 4; i++) await once(i);
    await new Promise((r) => setTimeout(r, 500));
    const before = { daemon: fdCount(bed.daemon.pid), shim: fdCount(shimPid), children: childrenOf(shimPid).length };
    for (let i = 0; i < 100; i++) await once(i);
    // Connections close asynchronously after the last byte; give them a moment.
    await waitFor('descriptors to settle', async () => {
      const now = { daemon: fdCount(bed.daemon.pid), shim: fdCount(shimPid), children: childrenOf(shimPid).length };
      return now.daemon <= before.daemon && now.shim <= before.shim && now.children <= before.children ? now : undefined;
    }, 10_000).catch(() => undefined);
    expect({ daemon: fdCount(bed.daemon.pid), shim: fdCount(shimPid), children: childrenOf(shimPid).length }).toEqual(before);
  }, 120_000);
});
