import type { PodSandbox } from '../../../proto/gen/runtime/v1/PodSandbox.js';
import type { PodSandboxStatus } from '../../../proto/gen/runtime/v1/PodSandboxStatus.js';
import { namespaceModes } from '../../oci/spec/cri-input.js';
import type { SandboxRecord } from '../../sandbox/sandbox.js';
import { perRecord } from '../../store/record-store.js';

/**
 * A sandbox record as ListPodSandbox reports it. Built once per record version and shared between calls, so the
 * gRPC layer can reuse its encoding (daemon/server/list-encoding.ts); callers must not change it.
 */
export const podSandboxOf = perRecord((r: SandboxRecord): PodSandbox => ({
  id: r.id,
  metadata: r.config.metadata,
  state: r.state,
  created_at: r.createdAt,
  labels: r.config.labels,
  annotations: r.config.annotations,
  runtime_handler: r.runtimeHandler,
}));

/** A sandbox record as PodSandboxStatus reports it: the list view plus network and namespace options. */
export function podSandboxStatusOf(r: SandboxRecord): PodSandboxStatus {
  const opts = r.config.linux?.security_context?.namespace_options;
  return {
    ...podSandboxOf(r),
    network: { ip: r.ips[0] ?? '', additional_ips: r.ips.slice(1).map((ip) => ({ ip })) },
    linux: {
      namespaces: {
        options: { ...namespaceModes(opts), target_id: opts?.target_id ?? '' },
      },
    },
  };
}
