import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openKoffiNative } from './libc.js';

describe('koffi as the shim loads it', () => {
  // If a koffi upgrade moves its native module, the shim silently falls back to koffi's slow entry point
  // (~20 ms of CPU per container): this test says so first.
  it('opens the native module of the installed koffi directly', () => {
    const koffi = openKoffiNative(fileURLToPath(new URL('.', import.meta.url)));
    expect(typeof koffi?.load).toBe('function');
    expect(openKoffiNative('/')).toBeUndefined();
  });
});
