import type { RuntimeRpc } from '../handler.js';

/** Runs a command to completion; output is capped at 16 MiB (both streams together), timeout in seconds (0: none). */
export const execSync: RuntimeRpc<'ExecSync'> = async (request, ctx) => {
  const out = await ctx.containers.execSync(request.container_id, request.cmd, Number(request.timeout));
  return { stdout: out.stdout, stderr: out.stderr, exit_code: out.exitCode };
};
