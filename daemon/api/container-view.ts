import type { Container } from '../../proto/gen/berth/v1/Container.js';
import type { Task } from '../../proto/gen/berth/v1/Task.js';
import type { ContainerRecord } from '../container/container.js';
import type { PodServices } from '../sandbox/open.js';

/** A container as `berthctl containers ls` shows it. */
export function berthContainer(c: ContainerRecord, pods: PodServices): Container {
  return {
    id: c.id,
    name: c.config.metadata?.name ?? '',
    image: c.image.name,
    state: c.state,
    created_at: c.createdAt,
    pod_sandbox_id: c.sandboxId,
    runtime_handler: pods.sandboxes.list().find((s) => s.id === c.sandboxId)?.runtimeHandler ?? '',
  };
}

const TASK_STATUS: Record<ContainerRecord['state'], string> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'stopped',
  CONTAINER_UNKNOWN: 'unknown',
};

/** A container's process as `berthctl tasks ls` shows it; the pid is that of its init while it runs. */
export function berthTask(c: ContainerRecord): Task {
  return {
    container_id: c.id,
    name: c.config.metadata?.name ?? '',
    pid: c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED' ? c.pid : 0,
    status: TASK_STATUS[c.state],
    exit_code: c.state === 'CONTAINER_EXITED' ? c.exitCode : 0,
  };
}
