import { describe, expect, it } from 'vitest';
import { parseNetDev } from './net-dev.js';

describe('parseNetDev', () => {
  it('reads receive and transmit bytes and errors per interface', () => {
    const text = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0',
      '  eth0:    5000      40    2    0    0     0          0         0     7000      50    3    0    0     0       0          0',
    ].join('\n');
    expect(parseNetDev(text)).toEqual([
      { name: 'lo', rxBytes: 100, rxErrors: 0, txBytes: 100, txErrors: 0 },
      { name: 'eth0', rxBytes: 5000, rxErrors: 2, txBytes: 7000, txErrors: 3 },
    ]);
  });
});
