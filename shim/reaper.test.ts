import { describe, expect, it } from 'vitest';
import { decodeWaitStatus } from './reaper.js';

describe('decodeWaitStatus', () => {
  it('reads WEXITSTATUS of a normal exit and 128+signal of a killed process', () => {
    expect(decodeWaitStatus(3 << 8, 5n)).toEqual({ exitCode: 3, atNs: 5n });
    expect(decodeWaitStatus(0, 5n)).toEqual({ exitCode: 0, atNs: 5n });
    expect(decodeWaitStatus(9, 5n)).toEqual({ exitCode: 137, signal: 9, atNs: 5n });
    // A core dump sets 0x80 on top of the signal.
    expect(decodeWaitStatus(0x80 | 11, 5n)).toEqual({ exitCode: 139, signal: 11, atNs: 5n });
  });
});
