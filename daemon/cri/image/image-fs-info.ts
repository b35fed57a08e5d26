import type { FilesystemUsage } from '../../../proto/gen/runtime/v1/FilesystemUsage.js';
import type { ImageRpc } from '../handler.js';

/**
 * Usage of the snapshotter's directory, from a cache the image service refreshes in the background. Container
 * writable layers live in the same snapshotter, so container_filesystems reports the same filesystem (same
 * mountpoint: kubelet then treats image and container storage as one).
 */
export const imageFsInfo: ImageRpc<'ImageFsInfo'> = async (_request, ctx) => {
  const usage = await ctx.images.fsUsage();
  const fs: FilesystemUsage = {
    timestamp: (BigInt(usage.timestamp) * 1_000_000n).toString(),
    fs_id: { mountpoint: usage.mountpoint },
    used_bytes: { value: usage.usedBytes },
    inodes_used: { value: usage.inodesUsed },
  };
  return { image_filesystems: [fs], container_filesystems: [fs] };
};
