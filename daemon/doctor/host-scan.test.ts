import { describe, expect, it } from 'vitest';
import { shimSocketOf } from './host-scan.js';

describe('host scan', () => {
  it('recognises a berth-shim command line and its socket', () => {
    const shim = ['/usr/bin/node', '--single-threaded', '/opt/berth/dist/shim/main.js', '--socket', '/run/berth/k8s.io/abc/shim.sock', '--ready-fd', '3', ''].join('\0');
    expect(shimSocketOf(shim)).toBe('/run/berth/k8s.io/abc/shim.sock');
    expect(shimSocketOf(['/usr/bin/node', '/opt/berth/dist/daemon/main.js', '--socket', 'x'].join('\0'))).toBeUndefined();
    expect(shimSocketOf(['/usr/bin/node', '/opt/berth/dist/shim-cjs/main.js', '--socket', '/run/berth/spares/spare-1.sock'].join('\0'))).toBe('/run/berth/spares/spare-1.sock');
    expect(shimSocketOf('sleep\x001000')).toBeUndefined();
  });
});
