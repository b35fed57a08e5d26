#!/usr/bin/env node
/**
 * berth-shim: one per container, started detached by berthd (its own session, so the daemon may die or
 * restart without touching it). Usage:
 *   berth-shim --socket <path> [--ready-fd <fd>]
 * It listens on <path>, then writes "ready\n" to the ready fd and closes it; on a failure before that it writes
 * the error instead and exits 1. Everything after is the protocol (shim/protocol.ts); the container is created
 * by the `create` request, which also makes the shim a child subreaper before it starts runc.
 */
import fs from 'node:fs';
import { shimHeapTrimmer } from './heap-trim.js';
import { ShimServer } from './server.js';

function parseArgs(argv: string[]): { socket: string; readyFd: number | null } {
  let socket = '';
  let readyFd: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--socket' && value !== undefined) socket = value;
    else if (flag === '--ready-fd' && value !== undefined && /^\d+$/.test(value)) readyFd = Number(value);
    else throw new Error(`unknown or incomplete argument "${flag}"; usage: berth-shim --socket <path> [--ready-fd <fd>]`);
    i++;
  }
  if (socket === '') throw new Error('missing --socket <path>; usage: berth-shim --socket <path> [--ready-fd <fd>]');
  return { socket, readyFd };
}

function signalReady(fd: number | null, message: string): void {
  if (fd === null) return;
  fs.writeSync(fd, message);
  fs.closeSync(fd);
}

async function main(): Promise<void> {
  // A shim that dies orphans its container and loses the exit status it exists to keep; an unexpected error
  // in one request or stream is logged (to shim.log) and the shim carries on serving the others.
  process.on('uncaughtException', (err) => console.error('berth-shim: uncaught exception:', err));
  process.on('unhandledRejection', (err) => console.error('berth-shim: unhandled rejection:', err));
  let readyFd: number | null = null;
  try {
    const args = parseArgs(process.argv.slice(2));
    readyFd = args.readyFd;
    await new ShimServer(args.socket, shimHeapTrimmer()).listen();
    signalReady(readyFd, 'ready\n');
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`berth-shim: ${message}`);
    signalReady(readyFd, `error: ${message}\n`);
    process.exit(1);
  }
}

void main();
