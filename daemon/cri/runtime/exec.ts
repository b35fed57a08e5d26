import { invalidArgument } from '../../errors/errors.js';
import type { RuntimeRpc } from '../handler.js';
import { runningContainer, validateStdio } from './streaming-request.js';

/** Validates the request and returns a single-use URL on the streaming server where the client runs the command. */
export const exec: RuntimeRpc<'Exec'> = async (request, ctx) => {
  const c = runningContainer(ctx, request.container_id, 'exec');
  if (request.cmd.length === 0) throw invalidArgument(`exec in container ${c.id} needs a command`);
  validateStdio(request, `exec in container ${c.id}`);
  const url = ctx.streaming.exec({ containerId: c.id, cmd: request.cmd, tty: request.tty, stdin: request.stdin, stdout: request.stdout, stderr: request.stderr });
  return { url };
};
