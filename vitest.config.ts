import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // two test files at once: many wait on subprocesses and worker pools, so the 2-core CI machine stays busy
    // (vitest's default on 2 cores is one file at a time)
    maxWorkers: 2,
  },
});
