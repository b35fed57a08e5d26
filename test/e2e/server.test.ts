import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { stringify } from 'smol-toml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { makeTestDir, runBerthd, startBerthd, testConfig, type BerthdHandle } from '../harness/berthd.js';

const SOCKET_GID = 4242;

describe('berthd serving CRI on its socket', () => {
  let daemon: BerthdHandle;

  beforeAll(async () => {
    daemon = await startBerthd({ config: { grpc: { gid: SOCKET_GID } } });
  });
  afterAll(async () => {
    await daemon?.cleanup();
  });

  it('answers Version with berth\'s name and CRI version', async () => {
    const response = await daemon.runtime.Version({ version: 'v1' });
    expect(response).toEqual({
      version: '0.1.0',
      runtime_name: 'berth',
      runtime_version: packageJson.version,
      runtime_api_version: 'v1',
    });
  });

  it('reports the runtime ready and the network not ready until a CNI config appears in conf_dir', async () => {
    const confDir = join(daemon.dir, 'cni/net.d');
    const before = await daemon.runtime.Status({ verbose: false });
    const conditions = (r: typeof before) => Object.fromEntries(r.status!.conditions.map((c) => [c.type, c]));
    expect(conditions(before)['RuntimeReady']).toMatchObject({ status: true });
    expect(conditions(before)['NetworkReady']).toMatchObject({ status: false, reason: 'NetworkPluginNotReady' });
    expect(conditions(before)['NetworkReady']!.message).toContain(confDir);
    expect(before.info).toEqual({});

    await mkdir(confDir, { recursive: true });
    await writeFile(join(confDir, 'README.txt'), 'not a network config');
    const stillNot = await daemon.runtime.Status({ verbose: false });
    expect(conditions(stillNot)['NetworkReady']).toMatchObject({ status: false });

    // The network plugin checks the config parses and its plugin binaries exist (loopback ships with CNI).
    await writeFile(join(confDir, '10-lo.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'lo', plugins: [{ type: 'loopback' }] }));
    const after = await daemon.runtime.Status({ verbose: false });
    expect(conditions(after)['NetworkReady']).toMatchObject({ status: true, reason: '' });
    await rm(confDir, { recursive: true });
  });

  it('puts the effective config in info["config"] when verbose', async () => {
    const response = await daemon.runtime.Status({ verbose: true });
    const config = JSON.parse(response.info['config']!);
    expect(config.root).toBe(daemon.root);
    expect(config.grpc.address).toBe(daemon.socket);
    expect(config.grpc.gid).toBe(SOCKET_GID);
    expect(config.cri.runtimes.runc.path).toBe('runc');
    expect(response.runtime_handlers.map((h) => h.name)).toEqual(['', 'runc']);
  });

  it('reports the configured cgroup driver through RuntimeConfig', async () => {
    expect(await daemon.runtime.RuntimeConfig({})).toEqual({ linux: { cgroup_driver: 'CGROUPFS' } });
  });

  it('accepts the pod CIDR with UpdateRuntimeConfig and logs it', async () => {
    const response = await daemon.runtime.UpdateRuntimeConfig({ runtime_config: { network_config: { pod_cidr: '10.88.0.0/16' } } });
    expect(response).toEqual({});
    expect(daemon.logs()).toMatch(/"podCidr":"10\.88\.0\.0\/16".*"pod CIDR updated"/);
  });

  it('answers RPCs berth does not implement with UNIMPLEMENTED naming the method', async () => {
    const err = (await daemon.runtime.CheckpointContainer({ container_id: 'x' }).catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(err.details).toBe('berth does not implement runtime.v1.RuntimeService/CheckpointContainer yet');
  });

  it('creates the socket 0660 owned by [grpc] gid and the root directory 0700', () => {
    const socket = lstatSync(daemon.socket);
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o777).toBe(0o660);
    expect(socket.gid).toBe(SOCKET_GID);
    expect(statSync(daemon.root).mode & 0o777).toBe(0o700);
    expect(statSync(daemon.state).isDirectory()).toBe(true);
  });
});

describe('berthd process lifecycle', () => {
  const daemons: BerthdHandle[] = [];
  const dirs: string[] = [];
  const start = async (config = {}) => {
    const daemon = await startBerthd({ config });
    daemons.push(daemon);
    return daemon;
  };
  afterEach(async () => {
    await Promise.all(daemons.splice(0).map((d) => d.cleanup()));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  it('on SIGTERM stops serving, removes the socket and exits 0', async () => {
    const daemon = await start();
    expect(existsSync(daemon.socket)).toBe(true);
    expect(await daemon.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(daemon.socket)).toBe(false);
  });

  it('on SIGINT stops the same way', async () => {
    const daemon = await start();
    expect(await daemon.stop('SIGINT')).toEqual({ code: 0, signal: null });
    expect(existsSync(daemon.socket)).toBe(false);
  });

  it('refuses requests larger than [grpc] max_recv_message_size', async () => {
    const daemon = await start({ grpc: { max_recv_message_size: 1024 } });
    const request = { runtime_config: { network_config: { pod_cidr: 'x'.repeat(2000) } } };
    const err = (await daemon.runtime.UpdateRuntimeConfig(request).catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect((await daemon.runtime.Version({})).runtime_name).toBe('berth');
  });

  it('starts over the stale socket and the lock of a kill -9\'d daemon', async () => {
    const daemon = await start();
    const first = daemon.pid;
    expect(await daemon.kill()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(lstatSync(daemon.socket).isSocket()).toBe(true);
    await daemon.restart();
    expect(daemon.pid).not.toBe(first);
    expect((await daemon.runtime.Version({})).runtime_name).toBe('berth');
  });

  it('refuses a second daemon on the same root, and one on the same socket, naming the holder', async () => {
    const daemon = await start();
    const other = await makeTestDir();
    dirs.push(other);

    const sameRoot = testConfig(other, { root: daemon.root });
    await writeFile(join(other, 'same-root.toml'), stringify(sameRoot));
    const rootResult = await runBerthd(['--config', join(other, 'same-root.toml')]);
    expect(rootResult.code).not.toBe(0);
    expect(rootResult.stderr).toContain(`berthd: another berthd (pid ${daemon.pid}) is already using root ${daemon.root}`);

    const sameSocket = testConfig(other, { grpc: { address: daemon.socket } });
    await writeFile(join(other, 'same-socket.toml'), stringify(sameSocket));
    const socketResult = await runBerthd(['--config', join(other, 'same-socket.toml')]);
    expect(socketResult.code).not.toBe(0);
    expect(socketResult.stderr).toContain(`is already using socket ${daemon.socket}`);

    // The refused daemons must not have disturbed the first one.
    expect(lstatSync(daemon.socket).isSocket()).toBe(true);
    expect((await daemon.runtime.Version({})).runtime_name).toBe('berth');
  });

  it('reports cgroup_driver = "systemd" as SYSTEMD', async () => {
    const daemon = await start({ cri: { cgroup_driver: 'systemd' } });
    expect(await daemon.runtime.RuntimeConfig({})).toEqual({ linux: { cgroup_driver: 'SYSTEMD' } });
  });

  it('refuses to replace a regular file at the socket path', async () => {
    const dir = await makeTestDir();
    dirs.push(dir);
    const socket = join(dir, 'berth.sock');
    await writeFile(socket, 'not a socket');
    await writeFile(join(dir, 'config.toml'), stringify(testConfig(dir)));
    const result = await runBerthd(['--config', join(dir, 'config.toml')]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${socket} exists and is not a socket`);
    expect(execFileSync('cat', [socket]).toString()).toBe('not a socket');
  });
});
