/**
 * Reaps the shim's adopted children: the container's init and every exec process (re-parented to the shim,
 * a child subreaper, when `runc create` / `runc exec --detach` exit), plus any orphan of a container that
 * shares the host pid namespace.
 *
 * Children started through child_process are libuv's to reap; stealing their status would leave their
 * ChildProcess without an 'exit'. So on SIGCHLD the reaper peeks (waitid WNOWAIT) at the next exited child,
 * reaps it only if libuv did not spawn it, and stops at a libuv child; the sweep runs again when that child's
 * 'exit' fires. No timers: every sweep is driven by SIGCHLD or by a libuv exit.
 */
import type { ChildProcess } from 'node:child_process';
import { peekExitedChild, reap } from './libc.js';

export interface WaitStatus {
  /** WEXITSTATUS, or 128 + signal. */
  exitCode: number;
  signal?: number;
  /** When the reaper saw the exit, ns since the epoch. */
  atNs: bigint;
}

type ExitListener = (status: WaitStatus) => void;

/** Exits seen before anyone asked for the pid (a fast exec can exit before its --pid-file is read). */
const UNCLAIMED_LIMIT = 1024;

export function decodeWaitStatus(raw: number, atNs: bigint): WaitStatus {
  const termSig = raw & 0x7f;
  if (termSig === 0) return { exitCode: (raw >> 8) & 0xff, atNs };
  return { exitCode: 128 + termSig, signal: termSig, atNs };
}

export class Reaper {
  private readonly libuvChildren = new Set<number>();
  private readonly listeners = new Map<number, ExitListener>();
  private readonly unclaimed = new Map<number, WaitStatus>();

  constructor(private readonly nowNs: () => bigint) {}

  /** Starts listening for SIGCHLD; the sweep also catches children that exited before this call. */
  install(): void {
    process.on('SIGCHLD', () => this.sweep());
    this.sweep();
  }

  /** Marks a child_process child as libuv's; the sweep resumes once libuv has reaped it. */
  trackSpawned(child: ChildProcess): void {
    const pid = child.pid;
    if (pid === undefined) return;
    this.libuvChildren.add(pid);
    child.once('exit', () => {
      this.libuvChildren.delete(pid);
      this.sweep();
    });
  }

  /** Calls `listener` once when `pid` exits (at once if it already has). */
  onExit(pid: number, listener: ExitListener): void {
    const seen = this.unclaimed.get(pid);
    if (seen !== undefined) {
      this.unclaimed.delete(pid);
      listener(seen);
      return;
    }
    this.listeners.set(pid, listener);
    // The pid may have exited while its SIGCHLD was being handled for a libuv child.
    this.sweep();
  }

  private sweep(): void {
    for (;;) {
      const pid = peekExitedChild();
      if (pid <= 0 || this.libuvChildren.has(pid)) return;
      const raw = reap(pid);
      if (raw === null) return;
      const status = decodeWaitStatus(raw, this.nowNs());
      const listener = this.listeners.get(pid);
      if (listener !== undefined) {
        this.listeners.delete(pid);
        listener(status);
      } else {
        this.unclaimed.set(pid, status);
        if (this.unclaimed.size > UNCLAIMED_LIMIT) {
          const oldest = this.unclaimed.keys().next().value;
          if (oldest !== undefined) this.unclaimed.delete(oldest);
        }
      }
    }
  }
}
