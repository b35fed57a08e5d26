import { isBerthError } from '../../errors/errors.js';
import type { RuntimeRpc } from '../handler.js';

/** Idempotent, and an unknown container counts as stopped (kubelet retries stops of containers it lost track of). */
export const stopContainer: RuntimeRpc<'StopContainer'> = async (request, ctx) => {
  try {
    await ctx.containers.stop(request.container_id, Number(request.timeout));
  } catch (err) {
    if (!isBerthError(err, 'NotFound')) throw err;
  }
  return {};
};
