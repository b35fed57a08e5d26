import { describe, expect, it } from 'vitest';
import { mountPointsIn, shimSocketOf } from './host-scan.js';

describe('host scan', () => {
  it('lists mount points under the given dirs, with mountinfo escapes decoded', () => {
    const info = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '90 22 0:50 / /var/lib/berth/k8s.io/abc/rootfs rw shared:2 - overlay overlay rw,lowerdir=/x',
      '91 22 0:51 / /var/lib/berth-other/x rw - tmpfs tmpfs rw',
      '92 22 0:52 / /run/berth/netns rw shared:3 - tmpfs tmpfs rw',
      '93 22 0:53 / /run/berth/with\\040space rw - tmpfs tmpfs rw',
    ].join('\n');
    expect(mountPointsIn(info, ['/var/lib/berth', '/run/berth'])).toEqual([
      '/var/lib/berth/k8s.io/abc/rootfs',
      '/run/berth/netns',
      '/run/berth/with space',
    ]);
  });

  it('recognises a berth-shim command line and its socket', () => {
    const shim = ['/usr/bin/node', '--single-threaded', '/opt/berth/dist/shim/main.js', '--socket', '/run/berth/k8s.io/abc/shim.sock', '--ready-fd', '3', ''].join('\0');
    expect(shimSocketOf(shim)).toBe('/run/berth/k8s.io/abc/shim.sock');
    expect(shimSocketOf(['/usr/bin/node', '/opt/berth/dist/daemon/main.js', '--socket', 'x'].join('\0'))).toBeUndefined();
    expect(shimSocketOf(['/usr/bin/node', '/opt/berth/dist/shim-cjs/main.js', '--socket', '/run/berth/spares/spare-1.sock'].join('\0'))).toBe('/run/berth/spares/spare-1.sock');
    expect(shimSocketOf('sleep\x001000')).toBeUndefined();
  });
});
