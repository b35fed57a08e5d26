import { randomBytes } from 'node:crypto';
import { connectShim, isShimError, type ShimClient } from '../../shim/client.js';
import type { ContainerService } from '../container/container-service.js';
import { shimFailure } from '../container/shim-errors.js';
import { failedPrecondition } from '../errors/errors.js';
import type { Logger } from '../logging/logger.js';
import type { OutputSink, RemoteCommandRequest, RemoteCommandRuntime, RunningProcess, TerminalSize } from './remote-command.js';

/**
 * Exec and attach through the container's shim. Each session opens its own shim connection: output events of
 * its exec (or of the attached container) reach only that connection, and when the session ends the
 * connection closes, which makes the shim detach it and close the exec's stdin. An exec still running when
 * its client goes away is also killed (through the shim), as containerd does, so a vanished `kubectl exec`
 * leaves no process.
 */
export class ShimProcesses implements RemoteCommandRuntime {
  constructor(
    private readonly containers: ContainerService,
    private readonly logger: Logger,
  ) {}

  async start(request: RemoteCommandRequest, sink: OutputSink): Promise<RunningProcess> {
    const c = this.containers.get(request.containerId);
    if (c.state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container ${c.id} is no longer running; ${request.kind} needs a running container`);
    const doing = `${request.kind} in container ${c.id}`;
    let client: ShimClient;
    try {
      client = await connectShim(c.bundle);
    } catch (err) {
      throw shimFailure(err, doing);
    }
    try {
      return request.kind === 'exec'
        ? await this.exec(client, request, (await this.containers.spec(c)).process, sink)
        : await this.attach(client, request, c.config.stdin_once, sink);
    } catch (err) {
      client.close();
      throw shimFailure(err, doing);
    }
  }

  private async exec(client: ShimClient, request: RemoteCommandRequest, base: object, sink: OutputSink): Promise<RunningProcess> {
    const execId = `stream-${randomBytes(8).toString('hex')}`;
    let exitedWith: number | undefined;
    const exited = new Promise<number>((resolve, reject) => {
      client.onExecExit((id, code) => {
        if (id !== execId) return;
        exitedWith = code;
        resolve(code);
      });
      client.onClose(() => reject(new Error('the connection to the container shim closed before the process exited')));
    });
    // Awaited by the session; this only keeps a rejection before that from counting as unhandled.
    exited.catch(() => undefined);
    client.onOutput((stream, data, id) => {
      if (id === execId) sink(stream, data);
    });
    await client.execStart({
      execId,
      process: { ...base, args: request.cmd, terminal: request.tty },
      stdin: request.stdin,
      tty: request.tty,
    });
    return {
      write: (data) => client.input(data, false, execId),
      closeStdin: () => client.input(Buffer.alloc(0), true, execId),
      resize: (size: TerminalSize) => (request.tty ? client.resize(size.width, size.height, execId) : Promise.resolve()),
      exited,
      release: () => {
        // The shim signals the process only while it has not reaped it, so a reused pid is never hit.
        const killed = exitedWith === undefined ? client.kill('SIGKILL', false, execId) : Promise.resolve();
        killed
          .catch((err: unknown) => {
            // NotFound: it exited in the meantime, which is what the kill was for. Anything else may leave it running.
            if (!isShimError(err, 'NotFound')) this.logger.warn({ err, container: request.containerId, execId }, 'killing an exec whose client went away failed');
          })
          .finally(() => client.close());
      },
    };
  }

  private async attach(client: ShimClient, request: RemoteCommandRequest, stdinOnce: boolean, sink: OutputSink): Promise<RunningProcess> {
    const exited = new Promise<number>((resolve, reject) => {
      client.onExit((_id, exit) => resolve(exit.exitCode));
      client.onClose(() => reject(new Error('the connection to the container shim closed')));
    });
    // Awaited by the session; this only keeps a rejection before that from counting as unhandled.
    exited.catch(() => undefined);
    client.onOutput((stream, data, id) => {
      if (id === undefined) sink(stream, data);
    });
    await client.attach();
    // An exit before the attach took effect has no event on this connection; the state has it.
    const state = await client.state();
    const exit = state.exit;
    const exitedNow = exit === null ? exited : Promise.resolve(exit.exitCode);
    // CRI stdin_once: the container's stdin closes when the first attached client is done with it.
    const closeOnce = (): Promise<void> => (request.stdin && stdinOnce ? client.input(Buffer.alloc(0), true) : Promise.resolve());
    return {
      write: (data) => client.input(data, false),
      closeStdin: closeOnce,
      resize: (size: TerminalSize) => (request.tty ? client.resize(size.width, size.height) : Promise.resolve()),
      exited: exitedNow,
      release: () => {
        closeOnce()
          // Expected only when the container (and with it its stdin) is already gone, so not worth more than debug.
          .catch((err: unknown) => this.logger.debug({ err, container: request.containerId }, 'closing the stdin of an attached container failed'))
          .finally(() => client.close());
      },
    };
  }
}
