import type { RuntimeRpc } from '../handler.js';
import { runningContainer, validateStdio } from './streaming-request.js';

/** Validates the request and returns a single-use URL where the client attaches to the container's main process. */
export const attach: RuntimeRpc<'Attach'> = async (request, ctx) => {
  const c = runningContainer(ctx, request.container_id, 'attach');
  validateStdio(request, `attach to container ${c.id}`);
  const url = ctx.streaming.attach({ containerId: c.id, cmd: [], tty: request.tty, stdin: request.stdin, stdout: request.stdout, stderr: request.stderr });
  return { url };
};
