import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { withShortSocketPath } from './socket-path.js';

it('binds and connects a socket whose path is longer than sun_path, at that very path', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-sock-'));
  const dir = path.join(base, 'd'.repeat(64), 'e'.repeat(40));
  fs.mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, 'shim.sock');
  expect(Buffer.byteLength(socket)).toBeGreaterThan(107);
  const server = net.createServer((c) => c.end('hi'));
  await withShortSocketPath(socket, (p) => new Promise<void>((resolve) => server.listen(p, resolve)));
  expect(fs.statSync(socket).isSocket()).toBe(true);
  const reply = await withShortSocketPath(socket, (p) => new Promise<string>((resolve, reject) => {
    const c = net.connect(p);
    let text = '';
    c.on('data', (d) => (text += d.toString()));
    c.on('end', () => resolve(text));
    c.on('error', reject);
  }));
  expect(reply).toBe('hi');
  await new Promise((r) => server.close(r));
  fs.rmSync(base, { recursive: true, force: true });
});
