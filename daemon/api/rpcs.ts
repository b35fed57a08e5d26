import { doctor } from './doctor.js';
import type { BerthRpcTables } from './handler.js';
import { listContainers } from './list-containers.js';
import { listContent } from './list-content.js';
import { listImages } from './list-images.js';
import { listNamespaces } from './list-namespaces.js';
import { listSnapshots } from './list-snapshots.js';
import { listTasks } from './list-tasks.js';
import { pullImage } from './pull-image.js';
import { removeContainer } from './remove-container.js';
import { removeImage } from './remove-image.js';
import { runContainer } from './run-container.js';
import { version } from './version.js';

/**
 * berth.v1 as berthd serves it (proto/berth/v1/berth.proto): one file per RPC in this folder, one line per RPC
 * here. An RPC missing from its table answers UNIMPLEMENTED.
 */
export const berthRpcs: BerthRpcTables = {
  Namespaces: { List: listNamespaces },
  Images: { List: listImages, Pull: pullImage, Remove: removeImage },
  Containers: { List: listContainers, Run: runContainer, Remove: removeContainer },
  Tasks: { List: listTasks },
  Snapshots: { List: listSnapshots },
  Content: { List: listContent },
  Daemon: { Version: version },
  Doctor: { Check: doctor },
};
