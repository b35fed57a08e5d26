import type { RuntimeRpc } from '../handler.js';

/** kubelet (with KubeletCgroupDriverFromCRI) adopts the runtime's cgroup driver, so both agree on cgroup paths. */
export const runtimeConfig: RuntimeRpc<'RuntimeConfig'> = async (_request, ctx) => ({
  linux: { cgroup_driver: ctx.config.cri.cgroup_driver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' },
});
