import type { RuntimeRpc } from '../handler.js';

/** kubelet pushes the node's pod CIDR here; the network plugin reads it from ctx.nodeNetwork. */
export const updateRuntimeConfig: RuntimeRpc<'UpdateRuntimeConfig'> = async (request, ctx, call) => {
  const cidr = request.runtime_config?.network_config?.pod_cidr ?? '';
  // An empty CIDR means kubelet has none to give; keep what we had rather than forgetting it.
  if (cidr === '' || cidr === ctx.nodeNetwork.podCidr()) return {};
  call.logger.info({ podCidr: cidr, previous: ctx.nodeNetwork.podCidr() }, 'pod CIDR updated');
  ctx.nodeNetwork.setPodCidr(cidr);
  return {};
};
