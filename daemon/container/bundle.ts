import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isSnapshotError } from '../../snapshotter/errors.js';
import { mountAll, unmount } from '../../snapshotter/mount.js';
import type { Snapshotter } from '../../snapshotter/snapshotter.js';
import { asBerthError } from '../images/snapshot-errors.js';
import type { RuntimeSpec } from '../oci/spec/runtime-spec.js';

/**
 * A bundle is `<state>/k8s.io/<id>/`: config.json, rootfs/ (the container's writable snapshot, mounted here by
 * the daemon), and the shim's own files (shim.sock, exit.json, ...: shim/protocol.ts bundlePaths). The daemon
 * creates and destroys it; the shim and runc only read config.json and use rootfs/.
 */
export const bundleRootfs = (bundle: string): string => path.join(bundle, 'rootfs');

/** Prepares the writable snapshot `key` over `parent` (a chain ID) and mounts it at <bundle>/rootfs. */
export async function mountBundleRootfs(snapshotter: Snapshotter, bundle: string, key: string, parent: string | undefined): Promise<string> {
  const rootfs = bundleRootfs(bundle);
  // Only root may enter a bundle (as containerd's, 0700): config.json holds the container's environment and
  // rootfs/ its files, setuid binaries included, which other users of the node must not reach.
  await mkdir(bundle, { recursive: true, mode: 0o700 });
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  try {
    const mounts = await snapshotter.prepare(key, parent, { 'berth/bundle': bundle });
    await mountAll(mounts, rootfs);
  } catch (err) {
    throw asBerthError(err, `preparing the rootfs of ${path.basename(bundle)}`);
  }
  return rootfs;
}

export async function writeBundleSpec(bundle: string, spec: RuntimeSpec): Promise<void> {
  await writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
}

/**
 * Unmounts the rootfs, removes the snapshot and deletes the bundle directory; every step tolerates having been
 * done already, so a remove interrupted by a crash can simply run again. The rootfs is unmounted before the
 * directory is deleted: deleting through a live mount would delete the container's files instead.
 */
export async function destroyBundle(snapshotter: Snapshotter, bundle: string, key: string): Promise<void> {
  unmount(bundleRootfs(bundle));
  try {
    await snapshotter.remove(key);
  } catch (err) {
    if (!isSnapshotError(err, 'NotFound')) throw asBerthError(err, `removing the rootfs snapshot ${key}`);
  }
  await rm(bundle, { recursive: true, force: true });
}
