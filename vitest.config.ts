import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'daemon/**/*.test.ts', 'shim/**/*.test.ts', 'snapshotter/**/*.test.ts', 'config/**/*.test.ts', 'proto/**/*.test.ts'],
    // End-to-end tests share one machine's mounts, cgroups and loopback registry; files run one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/harness/summary-reporter.ts'],
  },
});
