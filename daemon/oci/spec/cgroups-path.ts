import type { CgroupDriver } from '../../../config/types.js';
import { failedPrecondition } from '../../errors/errors.js';

/**
 * The runc cgroupsPath for a container under a pod's cgroup parent. cgroupfs wants a path
 * (`/kubepods/burstable/pod<uid>/<id>`); systemd wants `slice:prefix:name`, which runc turns into the unit
 * `berth-<id>.scope` inside the slice. A parent written for the other driver means kubelet and berth disagree on
 * the driver: that is refused up front, since runc would otherwise create a cgroup kubelet never accounts.
 */
export function cgroupsPath(driver: CgroupDriver, parent: string, id: string): string {
  const looksSystemd = parent.endsWith('.slice') && !parent.includes('/');
  if (driver === 'systemd') {
    if (parent !== '' && !looksSystemd) {
      throw failedPrecondition(
        `cgroup parent "${parent}" is a cgroupfs path but berth's [cri] cgroup_driver is "systemd"; ` +
          `set cgroup_driver = "cgroupfs" in the [cri] section of berth's config, or configure kubelet with cgroupDriver: systemd`,
        { parent, driver },
      );
    }
    return `${parent || 'system.slice'}:berth:${id}`;
  }
  if (looksSystemd || parent.endsWith('.slice')) {
    throw failedPrecondition(
      `cgroup parent "${parent}" is a systemd slice but berth's [cri] cgroup_driver is "cgroupfs"; ` +
        `set cgroup_driver = "systemd" in the [cri] section of berth's config, or configure kubelet with cgroupDriver: cgroupfs`,
      { parent, driver },
    );
  }
  const base = parent === '' ? '/berth' : parent.startsWith('/') ? parent : `/${parent}`;
  return `${base.replace(/\/+$/, '')}/${id}`;
}
