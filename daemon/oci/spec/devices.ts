import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { LinuxDevice, LinuxDeviceCgroup } from './runtime-spec.js';
import type { CriDevice } from './cri-input.js';
import { invalidArgument } from '../../errors/errors.js';

/** Major and minor numbers from a Linux dev_t as Node reports it (glibc's encoding). */
function majorMinor(rdev: number): { major: number; minor: number } {
  const dev = BigInt(rdev);
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return { major, minor };
}

async function deviceAt(hostPath: string, containerPath: string): Promise<LinuxDevice | undefined> {
  const st = await stat(hostPath);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : undefined;
  if (type === undefined) return undefined;
  return { path: containerPath, type, ...majorMinor(st.rdev), fileMode: st.mode & 0o777, uid: st.uid, gid: st.gid };
}

export interface DevicePlan { devices: LinuxDevice[]; rules: LinuxDeviceCgroup[] }

/**
 * The device nodes and device-cgroup rules for a container. Unprivileged: deny all, then allow each CRI device
 * with its permissions (runc adds the standard /dev/null, /dev/zero... itself). Privileged: every host device
 * under /dev, all allowed, as containerd does.
 */
export async function containerDevices(criDevices: CriDevice[], privileged: boolean): Promise<DevicePlan> {
  const devices: LinuxDevice[] = [];
  const rules: LinuxDeviceCgroup[] = [{ allow: privileged, access: 'rwm' }];
  if (privileged) devices.push(...(await hostDevices('/dev')));
  for (const d of criDevices) {
    const hostPath = d.host_path ?? '';
    let dev: LinuxDevice | undefined;
    try {
      dev = await deviceAt(hostPath, d.container_path || hostPath);
    } catch (err) {
      throw invalidArgument(`device ${hostPath} for ${d.container_path}: ${(err as Error).message}; the device must exist on the node`);
    }
    if (!dev) throw invalidArgument(`${hostPath} is not a device node; list only character or block devices`);
    devices.push(dev);
    if (!privileged && dev.type !== 'p') {
      rules.push({ allow: true, type: dev.type === 'b' ? 'b' : 'c', major: dev.major, minor: dev.minor, access: d.permissions || 'rwm' });
    }
  }
  return { devices, rules };
}

/** Every device node below `dir`, skipping the pseudo-terminal and shm/mqueue trees a container gets its own of. */
async function hostDevices(dir: string): Promise<LinuxDevice[]> {
  const out: LinuxDevice[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (['pts', 'shm', 'mqueue', 'fd'].includes(entry.name) && dir === '/dev') continue;
      out.push(...(await hostDevices(full)));
    } else if (entry.isCharacterDevice() || entry.isBlockDevice()) {
      if (full === '/dev/console' || full === '/dev/ptmx') continue;
      // A node can vanish between readdir and stat (hot-unplug); it is then simply not offered.
      const dev = await deviceAt(full, full).catch(() => undefined);
      if (dev) out.push(dev);
    }
  }
  return out;
}
