import type { Container } from '../../../proto/gen/runtime/v1/Container.js';
import type { ContainerStatus } from '../../../proto/gen/runtime/v1/ContainerStatus.js';
import type { ContainerRecord } from '../../container/container.js';
import { perRecord } from '../../store/record-store.js';

/**
 * A container record as ListContainers reports it. Built once per record version and shared between calls, so
 * the gRPC layer can reuse its encoding (daemon/server/list-encoding.ts); callers must not change it.
 */
export const containerOf = perRecord((r: ContainerRecord): Container => ({
  id: r.id,
  pod_sandbox_id: r.sandboxId,
  metadata: r.config.metadata,
  image: { image: r.image.name },
  image_ref: r.image.ref,
  image_id: r.image.id,
  state: r.state,
  created_at: r.createdAt,
  labels: r.config.labels,
  annotations: r.config.annotations,
}));

/** A container record as ContainerStatus reports it. */
export function containerStatusOf(r: ContainerRecord): ContainerStatus {
  return {
    id: r.id,
    metadata: r.config.metadata,
    state: r.state,
    created_at: r.createdAt,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
    exit_code: r.exitCode,
    image: { image: r.image.name },
    image_ref: r.image.ref,
    image_id: r.image.id,
    reason: r.reason,
    message: r.message,
    labels: r.config.labels,
    annotations: r.config.annotations,
    mounts: r.config.mounts,
    log_path: r.logPath,
    resources: r.resources === null ? null : { linux: r.resources },
    user: { linux: { uid: r.user.uid, gid: r.user.gid, supplemental_groups: r.user.additionalGids } },
    stop_signal: r.config.stop_signal,
  };
}
