import type { BerthConfig, RuntimeHandlerConfig } from '../../config/types.js';
import { invalidArgument } from '../errors/errors.js';

/** runc's and crun's global flag for cgroups managed through systemd. */
const SYSTEMD_CGROUP_FLAG = '--systemd-cgroup';

/**
 * The configured OCI runtime for a CRI runtime handler name; "" is [cri] default_runtime. With
 * `cgroup_driver = "systemd"` the runtime gets --systemd-cgroup, as containerd's SystemdCgroup does: the
 * specs' `slice:prefix:name` cgroup paths mean nothing to a runtime driving cgroupfs.
 */
export function runtimeFor(config: BerthConfig, handler: string): RuntimeHandlerConfig {
  const name = handlerName(config, handler);
  const runtime = config.cri.runtimes[name];
  if (runtime === undefined) {
    const known = Object.keys(config.cri.runtimes).map((k) => `"${k}"`).join(', ');
    throw invalidArgument(`runtime handler "${handler}" is not configured; use "" or one of ${known} ([cri.runtimes] in berth's config)`);
  }
  if (config.cri.cgroup_driver === 'systemd' && !runtime.args.includes(SYSTEMD_CGROUP_FLAG)) {
    return { ...runtime, args: [...runtime.args, SYSTEMD_CGROUP_FLAG] };
  }
  return runtime;
}

/** The [cri.runtimes] key a CRI runtime handler name stands for ("" is [cri] default_runtime). */
export function handlerName(config: BerthConfig, handler: string): string {
  return handler === '' ? config.cri.default_runtime : handler;
}
