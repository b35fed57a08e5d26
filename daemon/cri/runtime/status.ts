import type { RuntimeCondition } from '../../../proto/gen/runtime/v1/RuntimeCondition.js';
import type { RuntimeHandler } from '../../../proto/gen/runtime/v1/RuntimeHandler.js';
import { checkOverlay, checkRuntimeBinaries } from '../../preflight/preflight.js';
import type { CriContext } from '../context.js';
import type { RuntimeRpc } from '../handler.js';

/** Re-checked on every call (kubelet polls), so an operator who fixes the host sees the node recover. */
async function runtimeCondition(ctx: CriContext): Promise<RuntimeCondition> {
  const [overlay, runtimes] = await Promise.all([checkOverlay(), checkRuntimeBinaries(ctx.config)]);
  const blocking = [...(overlay === undefined ? [] : [overlay]), ...runtimes].filter((problem) => problem.blocksRuntime);
  if (blocking.length === 0) return { type: 'RuntimeReady', status: true, reason: '', message: '' };
  return { type: 'RuntimeReady', status: false, reason: 'RuntimePreflightFailed', message: blocking.map((problem) => problem.message).join('; ') };
}

/** The network plugin's own readiness: a conf dir with a config that parses and plugin binaries that exist. */
async function networkCondition(ctx: CriContext): Promise<RuntimeCondition> {
  const status = await ctx.network.status();
  if (status.ready) return { type: 'NetworkReady', status: true, reason: '', message: '' };
  return { type: 'NetworkReady', status: false, reason: status.reason, message: status.message };
}

/** The default handler is reported under "" as kubelet asks for it by that name, then every configured one. */
function runtimeHandlers(ctx: CriContext): RuntimeHandler[] {
  const names = ['', ...Object.keys(ctx.config.cri.runtimes)];
  return names.map((name) => ({ name, features: { recursive_read_only_mounts: false, user_namespaces: false } }));
}

export const status: RuntimeRpc<'Status'> = async (request, ctx) => {
  const conditions = await Promise.all([runtimeCondition(ctx), networkCondition(ctx)]);
  // Every info value is JSON, as crictl and other CRI tools decode them.
  const info: Record<string, string> = {};
  if (request.verbose) {
    info['config'] = JSON.stringify(ctx.config);
    info['configSource'] = JSON.stringify(ctx.configSource);
  }
  return {
    status: { conditions },
    info,
    runtime_handlers: runtimeHandlers(ctx),
    features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
  };
};
