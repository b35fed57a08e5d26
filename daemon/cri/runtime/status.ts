import { readdir } from 'node:fs/promises';
import { extname } from 'node:path';
import type { RuntimeCondition } from '../../../proto/gen/runtime/v1/RuntimeCondition.js';
import type { RuntimeHandler } from '../../../proto/gen/runtime/v1/RuntimeHandler.js';
import type { CriContext } from '../context.js';
import type { RuntimeRpc } from '../handler.js';

/** File name extensions libcni loads from a conf dir. */
const CNI_CONFIG_EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

async function networkCondition(confDir: string): Promise<RuntimeCondition> {
  let entries: string[];
  try {
    entries = await readdir(confDir);
  } catch (err) {
    // A missing conf dir is the normal state of a node whose network add-on is not installed yet.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    entries = [];
  }
  if (entries.some((name) => CNI_CONFIG_EXTENSIONS.has(extname(name)))) {
    return { type: 'NetworkReady', status: true, reason: '', message: '' };
  }
  return {
    type: 'NetworkReady',
    status: false,
    reason: 'NetworkPluginNotReady',
    message: `no CNI network config (*.conf, *.conflist, *.json) found in ${confDir}; install a network add-on or set [cri.cni] conf_dir`,
  };
}

/** The default handler is reported under "" as kubelet asks for it by that name, then every configured one. */
function runtimeHandlers(ctx: CriContext): RuntimeHandler[] {
  const names = ['', ...Object.keys(ctx.config.cri.runtimes)];
  return names.map((name) => ({ name, features: { recursive_read_only_mounts: false, user_namespaces: false } }));
}

export const status: RuntimeRpc<'Status'> = async (request, ctx) => {
  const conditions: RuntimeCondition[] = [
    { type: 'RuntimeReady', status: true, reason: '', message: '' },
    await networkCondition(ctx.config.cri.cni.conf_dir),
  ];
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
