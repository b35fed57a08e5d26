import { failedPrecondition, invalidArgument } from '../../errors/errors.js';
import type { RuntimeRpc } from '../handler.js';

/** Validates the pod and ports and returns a single-use URL where the client forwards connections into the pod. */
export const portForward: RuntimeRpc<'PortForward'> = async (request, ctx) => {
  const pod = ctx.sandboxes.get(request.pod_sandbox_id);
  if (pod.state !== 'SANDBOX_READY') throw failedPrecondition(`pod sandbox ${pod.id} is not ready; port-forward needs a running pod`);
  const bad = request.port.find((p) => !Number.isInteger(p) || p < 1 || p > 65535);
  if (bad !== undefined) throw invalidArgument(`port-forward to pod ${pod.id}: port ${bad} is not between 1 and 65535`);
  return { url: ctx.streaming.portForward({ podId: pod.id, ports: request.port }) };
};
