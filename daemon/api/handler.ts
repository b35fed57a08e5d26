import type { ContainersHandlers } from '../../proto/gen/berth/v1/Containers.js';
import type { ContentHandlers } from '../../proto/gen/berth/v1/Content.js';
import type { DaemonHandlers } from '../../proto/gen/berth/v1/Daemon.js';
import type { DoctorHandlers } from '../../proto/gen/berth/v1/Doctor.js';
import type { ImagesHandlers } from '../../proto/gen/berth/v1/Images.js';
import type { NamespacesHandlers } from '../../proto/gen/berth/v1/Namespaces.js';
import type { SnapshotsHandlers } from '../../proto/gen/berth/v1/Snapshots.js';
import type { TasksHandlers } from '../../proto/gen/berth/v1/Tasks.js';
import type { BerthServiceName } from '../../proto/berth-proto.js';
import type { RpcTable } from '../cri/handler.js';

/**
 * berth.v1 handlers have the CRI handlers' shape (daemon/cri/handler.ts): the same context, call info, sinks
 * and error mapping, served by the same wrapper (daemon/server/cri-service.ts).
 */
interface BerthHandlers {
  Namespaces: NamespacesHandlers;
  Images: ImagesHandlers;
  Containers: ContainersHandlers;
  Tasks: TasksHandlers;
  Snapshots: SnapshotsHandlers;
  Content: ContentHandlers;
  Daemon: DaemonHandlers;
  Doctor: DoctorHandlers;
}

export type BerthRpcTables = { [S in BerthServiceName]: RpcTable<BerthHandlers[S]> };

/** One RPC's handler, e.g. `export const listImages: BerthRpc<'Images', 'List'> = async (request, ctx) => ...`. */
export type BerthRpc<S extends BerthServiceName, K extends keyof BerthRpcTables[S]> = NonNullable<BerthRpcTables[S][K]>;
