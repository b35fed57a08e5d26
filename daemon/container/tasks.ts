import { execa } from 'execa';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { RuntimeHandlerConfig } from '../../config/types.js';
import { connectShim, isShimError, readExitStatus, startShim, type ExitStatus, type ShimClient, type SpareShims } from '../../shim/client.js';
import { bundlePaths } from '../../shim/protocol.js';
import { BerthError } from '../errors/errors.js';
import { pathExists } from '../fs/path-exists.js';
import type { Logger } from '../logging/logger.js';
import { shimFailure } from './shim-errors.js';

export interface TaskSpec {
  id: string;
  bundle: string;
  runtime: RuntimeHandlerConfig;
  logPath: string;
  stdin: boolean;
  tty: boolean;
}

/**
 * The daemon's connections to its shims, one per running or created container (app or infra). A connection
 * is opened at create, or on first use after a daemon restart (connectShim on the bundle), and every exit event
 * it brings is handed to `onExit`. When a shim is gone for good, its exit.json in the bundle tells how the
 * container ended.
 */
export class Tasks {
  private readonly clients = new Map<string, Promise<ShimClient>>();

  constructor(
    /** The berth namespace ("k8s.io" for the CRI) the shims report and the runtime's state is kept under. */
    private readonly namespace: string,
    private readonly runcRoot: string,
    private readonly events: {
      /** The container's init exited (its status is already durable in the bundle). */
      onExit: (id: string, exit: ExitStatus) => void;
      /** The connection to the shim of `id` closed: the shim was deleted, or died. */
      onGone: (id: string) => void;
    },
    private readonly logger: Logger,
    /** Pre-started shims a create takes instead of waiting for node to boot one; none starts each shim anew. */
    private readonly spares?: SpareShims,
  ) {}

  /** Shims this daemon holds a connection to (one per created or running container, infra ones included). */
  count(): number {
    return this.clients.size;
  }

  /** Starts the shim and runs `runc create`; the container is then created, not started. */
  async create(spec: TaskSpec): Promise<number> {
    let client: ShimClient;
    try {
      client = await startShim({
        bundle: spec.bundle,
        id: spec.id,
        namespace: this.namespace,
        runtime: spec.runtime.path,
        runtimeArgs: spec.runtime.args,
        runcRoot: this.runcRoot,
        logPath: spec.logPath,
        stdin: spec.stdin,
        tty: spec.tty,
        ...(this.spares ? { spares: this.spares } : {}),
      });
    } catch (err) {
      // The bundle, and the shim's log in it, is removed after a failed create: keep the log's end in the error.
      const shimLog = await tail(bundlePaths(spec.bundle).shimLog, 1024);
      throw shimFailure(err, `creating container ${spec.id} with ${spec.runtime.path}${shimLog ? ` (shim log: ${shimLog})` : ''}`);
    }
    this.adopt(spec.id, client);
    return (await client.state()).pid;
  }

  /** The shim of `id`, connecting to it if this daemon has not yet (after a restart). */
  async client(id: string, bundle: string): Promise<ShimClient> {
    let pending = this.clients.get(id);
    if (pending === undefined) {
      pending = connectShim(bundle).then((c) => {
        this.watch(id, c);
        return c;
      });
      this.clients.set(id, pending);
      pending.catch(() => this.clients.delete(id));
    }
    try {
      return await pending;
    } catch (err) {
      throw shimFailure(err, `reaching the shim of container ${id}`);
    }
  }

  /** The shim of `id`, or undefined when it is gone (its container exited and was deleted, or it was killed). */
  async tryClient(id: string, bundle: string): Promise<ShimClient | undefined> {
    try {
      return await this.client(id, bundle);
    } catch (err) {
      if (err instanceof BerthError && isShimError(err.cause, 'Unavailable')) return undefined;
      throw err;
    }
  }

  /** How the container ended according to its bundle, for when its shim is gone. */
  recordedExit(bundle: string): ExitStatus | null {
    return readExitStatus(bundle);
  }

  /**
   * Deletes the container: through its shim (which then exits), or, if the shim is gone, with the runtime
   * directly so no runc state is left behind.
   */
  async delete(id: string, bundle: string, runtime: RuntimeHandlerConfig): Promise<void> {
    const client = await this.tryClient(id, bundle);
    if (client !== undefined) {
      try {
        await client.delete(true).catch((err: unknown) => {
          // A shim a crash left before its create has no container to delete: it is shut down instead.
          if (isShimError(err, 'FailedPrecondition')) return client.shutdown();
          throw err;
        });
      } catch (err) {
        // The shim exits right after answering a delete; a closed connection at that moment is the success case.
        if (!isShimError(err, 'Unavailable') && !isShimError(err, 'NotFound')) throw shimFailure(err, `deleting container ${id}`);
      }
      client.close();
      this.clients.delete(id);
      return;
    }
    // runc and crun keep a directory per container under their root; without one there is nothing to delete. That
    // is the usual case: the shim deleted the container when it exited, and a runtime run costs a fork of berthd
    // and ~10 ms of CPU per removed container.
    if (!(await pathExists(path.join(this.runcRoot, id)))) return;
    const result = await execa(runtime.path, [...runtime.args, '--root', this.runcRoot, 'delete', '--force', id], { reject: false });
    if (result.exitCode !== 0 && !/does not exist|not found/i.test(result.stderr)) {
      this.logger.warn({ id, stderr: result.stderr }, 'runtime delete of a container without shim failed');
    }
  }

  private adopt(id: string, client: ShimClient): void {
    this.watch(id, client);
    this.clients.set(id, Promise.resolve(client));
  }

  private watch(id: string, client: ShimClient): void {
    client.onExit((exitedId, exit) => {
      if (exitedId === id) this.events.onExit(id, exit);
    });
    client.onClose(() => {
      this.clients.delete(id);
      this.logger.debug({ id, socket: path.basename(client.socketPath) }, 'shim connection closed');
      this.events.onGone(id);
    });
  }
}

/** The last `bytes` of a file, trimmed; "" when it does not exist. */
async function tail(file: string, bytes: number): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const buf = Buffer.alloc(Math.min(size, bytes));
      await handle.read(buf, 0, buf.length, size - buf.length);
      return buf.toString('utf8').trim();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}
