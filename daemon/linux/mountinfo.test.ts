import { describe, expect, it } from 'vitest';
import { mountPointsIn } from './mountinfo.js';

describe('mountPointsIn', () => {
  const mountinfo = [
    '25 1 259:2 / / rw,noatime shared:1 - xfs /dev/nvme0n1p2 rw',
    '101 25 0:60 / /srv/berth rw shared:9 - tmpfs tmpfs rw',
    '102 101 0:61 / /srv/berth/k8s.io/c1/rootfs rw shared:10 - overlay overlay rw,lowerdir=/l',
    '103 25 0:62 / /srv/berthold rw - tmpfs tmpfs rw',
    '104 101 0:63 / /srv/berth/tab\\011and\\134slash rw - tmpfs tmpfs rw',
    '',
  ].join('\n');

  it('keeps the dir itself and what lies below it, in mount order, and not a sibling sharing its prefix', () => {
    expect(mountPointsIn(mountinfo, ['/srv/berth'])).toEqual(['/srv/berth', '/srv/berth/k8s.io/c1/rootfs', '/srv/berth/tab\tand\\slash']);
  });

  it('matches any of several dirs and nothing for none', () => {
    expect(mountPointsIn(mountinfo, ['/srv/berthold', '/'])).toHaveLength(5);
    expect(mountPointsIn(mountinfo, [])).toEqual([]);
  });
});
