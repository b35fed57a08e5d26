import type { ImageRpcTable } from '../handler.js';

/**
 * runtime.v1.ImageService as berth serves it: one file per RPC in this folder, one line per RPC here.
 * An RPC missing from this table answers UNIMPLEMENTED.
 */
export const imageRpcs: ImageRpcTable = {};
