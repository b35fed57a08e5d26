import type { RuntimeRpc } from '../handler.js';
import { containerStatusOf } from './container-view.js';

/** With verbose, `info` holds one JSON document like containerd's: sandboxID, pid, runtimeSpec, snapshot key. */
export const containerStatus: RuntimeRpc<'ContainerStatus'> = async (request, ctx) => {
  const c = ctx.containers.get(request.container_id);
  const info: Record<string, string> = {};
  if (request.verbose) {
    info['info'] = JSON.stringify({
      sandboxID: c.sandboxId,
      pid: c.pid,
      bundle: c.bundle,
      snapshotKey: c.snapshotKey,
      imageID: c.image.id,
      runtimeSpec: await ctx.containers.spec(c),
    });
  }
  return { status: containerStatusOf(c), info };
};
