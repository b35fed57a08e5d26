import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openNotifySocket, type NotifySocket } from '../../test/fixtures/notify-socket.js';
import { serviceManagerFromEnv, unixAddress } from './sd-notify.js';

describe('sd_notify', () => {
  let socket: NotifySocket | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    socket?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    socket = undefined;
    dir = undefined;
  });

  it('encodes path sockets NUL-terminated and abstract ones with a leading NUL and no terminator', () => {
    expect(unixAddress('/run/x').subarray(2).toString('latin1')).toBe('/run/x\0');
    expect(unixAddress('@x').subarray(2).toString('latin1')).toBe('\0x');
    expect(unixAddress('@x').readUInt16LE(0)).toBe(1);
    expect(() => unixAddress(`/${'a'.repeat(120)}`)).toThrow(/longer than a unix socket path/);
  });

  it('sends to a socket file and takes the variables out of the environment', async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-notify-'));
    socket = openNotifySocket(join(dir, 'notify'));
    process.env['NOTIFY_SOCKET'] = socket.address;
    process.env['WATCHDOG_USEC'] = '30000000';
    process.env['WATCHDOG_PID'] = '1';
    const errors: unknown[] = [];
    const manager = serviceManagerFromEnv((err) => errors.push(err));
    expect([process.env['NOTIFY_SOCKET'], process.env['WATCHDOG_USEC'], process.env['WATCHDOG_PID']]).toEqual([undefined, undefined, undefined]);
    manager.ready();
    manager.status('serving');
    // WATCHDOG_PID names another process: the watchdog is not ours to ping.
    expect(manager.startWatchdog()).toBeUndefined();
    await socket.waitFor((m) => m.startsWith('STATUS='));
    expect(socket.messages).toEqual([`READY=1\nMAINPID=${process.pid}`, 'STATUS=serving']);
    expect(errors).toEqual([]);
  });

  it('does nothing outside systemd, and reports a send that fails instead of throwing', () => {
    delete process.env['NOTIFY_SOCKET'];
    serviceManagerFromEnv(() => {
      throw new Error('no error expected');
    }).ready();
    process.env['NOTIFY_SOCKET'] = '/nonexistent/notify';
    const errors: unknown[] = [];
    serviceManagerFromEnv((err) => errors.push(err)).ready();
    expect(errors).toEqual([expect.objectContaining({ syscall: 'sendto', code: 'ENOENT' })]);
  });
});
