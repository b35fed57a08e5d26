import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { selfSignedCert } from '../../test/fixtures/certs.js';
import { rejectionOf } from '../../test/fixtures/rejection.js';
import { spdyPortForward, spdyRemoteCommand, upgrade, UpgradeRefused, wsPortForward, wsRemoteCommand } from '../../test/fixtures/streaming-clients.js';
import type { OutputSink, RemoteCommandRequest, RemoteCommandRuntime, RunningProcess } from './remote-command.js';
import { StreamingServer, type StreamingServerOptions } from './streaming-server.js';

const until = async (what: string, check: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

/**
 * A process that upper-cases its stdin to stdout, reports resizes on stderr (or stdout with a tty), and exits
 * with 3 when its stdin closes; `hang` ones never exit. Records what the server did with it.
 */
class FakeRuntime implements RemoteCommandRuntime {
  readonly started: RemoteCommandRequest[] = [];
  released = 0;
  hang = false;
  /** Bytes written at once after the start, faster than any client reads. */
  flood = 0;

  async start(request: RemoteCommandRequest, sink: OutputSink): Promise<RunningProcess> {
    this.started.push(request);
    let exit: (code: number) => void = () => undefined;
    const exited = new Promise<number>((resolve) => (exit = resolve));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    if (this.flood > 0) setImmediate(() => {
      for (let sent = 0; sent < this.flood; sent += chunk.length) sink('stdout', chunk);
    });
    return {
      write: async (data) => sink('stdout', Buffer.from(data.toString().toUpperCase())),
      closeStdin: async () => {
        if (!this.hang) exit(3);
      },
      resize: async (size) => sink('stderr', Buffer.from(`size ${size.width}x${size.height};`)),
      exited,
      release: () => this.released++,
    };
  }
}

describe('StreamingServer', () => {
  let server: StreamingServer | undefined;
  let dir: string | undefined;
  let runtime: FakeRuntime;
  const echo = net.createServer((s) => s.pipe(s));

  async function start(over: Partial<StreamingServerOptions> = {}): Promise<StreamingServer> {
    runtime = new FakeRuntime();
    if (!echo.listening) await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as net.AddressInfo).port;
    server = await StreamingServer.start({
      address: '127.0.0.1',
      port: 0,
      tokenTtlMs: 60_000,
      idleTimeoutMs: 0,
      creationTimeoutMs: 30_000,
      runtime,
      // Port 1 is "the pod's echo server"; anything else is refused.
      dial: async (_pod, port) => {
        if (port !== 1) throw new Error(`connect(localhost:${port}) failed: ECONNREFUSED`);
        return net.connect(echoPort, '127.0.0.1');
      },
      logger: pino({ level: 'silent' }),
      ...over,
    });
    return server;
  }

  afterEach(async () => {
    await server?.close();
    server = undefined;
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  const execRequest = { containerId: 'c1', cmd: ['cat'], tty: false, stdin: true, stdout: true, stderr: true };

  it('runs an exec over SPDY and over WebSocket v5 and releases the process', async () => {
    const s = await start();
    const spdy = await spdyRemoteCommand(s.exec(execRequest), { stdin: true, stdout: true, stderr: true });
    spdy.write('abc');
    await until('the echo', () => spdy.stdout() === 'ABC');
    spdy.closeStdin();
    const r = await spdy.done;
    expect(JSON.parse(r.error)).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
    const ws = await wsRemoteCommand(s.exec({ ...execRequest, tty: true, stderr: false }));
    ws.resize(80, 24);
    ws.write('xyz');
    await until('the echo', () => ws.stdout().includes('XYZ'));
    ws.closeStdin();
    const w = await ws.done;
    expect(w.stdout).toContain('size 80x24;');
    expect(JSON.parse(w.error).reason).toBe('NonZeroExitCode');
    expect(runtime.started.map((q) => q.kind)).toEqual(['exec', 'exec']);
    await until('both released', () => runtime.released === 2);
  });

  it('refuses unknown tokens (404), plain requests (400) and protocols it does not speak (403)', async () => {
    const s = await start();
    const refused = async (p: Promise<unknown>): Promise<number> => ((await rejectionOf(p)) as UpgradeRefused).statusCode;
    expect(await refused(upgrade(`${s.url}/exec/nope`, { Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v4.channel.k8s.io' }))).toBe(404);
    expect(await refused(upgrade(`${s.url}/other/path`, { Upgrade: 'SPDY/3.1' }))).toBe(404);
    const plain = await fetch(s.exec(execRequest));
    expect(plain.status).toBe(400);
    expect(await refused(spdyRemoteCommand(s.exec(execRequest), { stdout: true }, ['v9.channel.k8s.io']))).toBe(403);
    expect(await refused(wsRemoteCommand(s.exec(execRequest), ['v9.channel.k8s.io']))).toBe(400);
  });

  it('releases the process of a client that disappears, and of one that goes idle', async () => {
    const s = await start({ idleTimeoutMs: 300 });
    runtime.hang = true;
    const gone = await spdyRemoteCommand(s.exec(execRequest), { stdin: true, stdout: true, stderr: true });
    gone.write('a');
    await until('the echo', () => gone.stdout() === 'A');
    gone.destroy();
    await until('the release', () => runtime.released === 1);
    const idle = await wsRemoteCommand(s.exec(execRequest));
    await idle.done;
    await until('the release', () => runtime.released === 2);
    expect(s.connections).toBe(0);
  });

  it('stops a session whose client cannot keep up with its output', async () => {
    const s = await start();
    runtime.hang = true;
    runtime.flood = 24 * 1024 * 1024;
    const client = await wsRemoteCommand(s.exec(execRequest));
    const r = await client.done;
    expect(JSON.parse(r.error)).toMatchObject({ status: 'Failure', message: expect.stringContaining('too slowly') });
    expect(runtime.released).toBe(1);
  });

  it('close() ends open sessions', async () => {
    const s = await start();
    runtime.hang = true;
    const client = await wsRemoteCommand(s.exec(execRequest));
    await until('the session', () => runtime.started.length === 1);
    await s.close();
    server = undefined;
    await client.done;
    expect(runtime.released).toBe(1);
  });

  it('forwards ports over SPDY (pairs by request id) and WebSocket (port prefixes)', async () => {
    const s = await start();
    const spdy = await spdyPortForward(s.portForward({ podId: 'p', ports: [] }));
    const conns = await Promise.all([spdy.connect(1), spdy.connect(1)]);
    conns.forEach((c, i) => c.data.write(`hello ${i}`));
    const echoed = await Promise.all(conns.map((c, i) => new Promise((resolve) => c.data.on('data', (d: Buffer) => d.toString() === `hello ${i}` && resolve(true)))));
    expect(echoed).toEqual([true, true]);
    const refusedConn = await spdy.connect(2);
    expect(await refusedConn.error).toMatch(/error forwarding port 2 to pod p: .*ECONNREFUSED/);
    spdy.close();
    const ws = await wsPortForward(s.portForward({ podId: 'p', ports: [] }), [1, 2]);
    ws.send(0, 'ping');
    await until('the echo', () => ws.received(0) === 'ping');
    await until('the refusal', () => ws.errors(1).includes('ECONNREFUSED'));
    expect([...ws.prefixes.entries()].sort()).toEqual([[0, 1], [1, 1], [2, 2], [3, 2]]);
    ws.close();
  });

  it('serves HTTPS when given a certificate', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-streaming-'));
    const cert = await selfSignedCert(dir, 'streaming', { san: 'IP:127.0.0.1' });
    const s = await start({ tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
    const url = s.exec({ ...execRequest, stdin: false });
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/exec\//);
    const client = await spdyRemoteCommand(url, { stdout: true, stderr: true }, ['v4.channel.k8s.io'], cert.cert);
    client.destroy();
    await until('the release', () => runtime.released === 1);
  });
});
