import type { ContainerRecord } from '../../container/container.js';
import { failedPrecondition, invalidArgument } from '../../errors/errors.js';
import type { CriContext } from '../context.js';

/** The container an Exec or Attach names, which must be running (NotFound for an unknown id). */
export function runningContainer(ctx: CriContext, id: string, what: 'exec' | 'attach'): ContainerRecord {
  const c = ctx.containers.get(id);
  if (c.state !== 'CONTAINER_RUNNING') {
    throw failedPrecondition(`container ${c.id} is ${c.state.replace('CONTAINER_', '').toLowerCase()}; ${what} needs a running container, start it first`);
  }
  return c;
}

/** kubelet's rules: some stdio must be asked for, and a terminal has no separate stderr. */
export function validateStdio(request: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }, what: string): void {
  if (!request.stdin && !request.stdout && !request.stderr) throw invalidArgument(`${what}: ask for at least one of stdin, stdout or stderr`);
  if (request.tty && request.stderr) throw invalidArgument(`${what}: tty and stderr cannot both be set; a terminal merges stderr into stdout`);
}
