import type { RuntimeRpcTable } from '../handler.js';
import { runtimeConfig } from './runtime-config.js';
import { status } from './status.js';
import { updateRuntimeConfig } from './update-runtime-config.js';
import { version } from './version.js';

/**
 * runtime.v1.RuntimeService as berth serves it: one file per RPC in this folder, one line per RPC here.
 * An RPC missing from this table answers UNIMPLEMENTED.
 */
export const runtimeRpcs: RuntimeRpcTable = {
  Version: version,
  Status: status,
  RuntimeConfig: runtimeConfig,
  UpdateRuntimeConfig: updateRuntimeConfig,
};
