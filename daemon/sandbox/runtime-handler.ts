import type { BerthConfig, RuntimeHandlerConfig } from '../../config/types.js';
import { invalidArgument } from '../errors/errors.js';

/** The configured OCI runtime for a CRI runtime handler name; "" is [cri] default_runtime. */
export function runtimeFor(config: BerthConfig, handler: string): RuntimeHandlerConfig {
  const name = handler === '' ? config.cri.default_runtime : handler;
  const runtime = config.cri.runtimes[name];
  if (runtime === undefined) {
    const known = Object.keys(config.cri.runtimes).map((k) => `"${k}"`).join(', ');
    throw invalidArgument(`runtime handler "${handler}" is not configured; use "" or one of ${known} ([cri.runtimes] in berth's config)`);
  }
  return runtime;
}
