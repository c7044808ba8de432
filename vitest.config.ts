import { defineConfig } from 'vitest/config';

// Three groups: pure logic (`unit`) runs without any server; everything that talks to the real
// broker, Redis or serverless-offline (`stack`) shares one local stack brought up once by the
// global setup. Tests that stop and restart shared servers (`*.outage.test.ts`), or that run
// a whole second copy of the app (`*.alone.test.ts`), run alone (`serial`), after the
// others, so they cannot pull a server out from under a test running beside them.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'stack',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          exclude: ['test/**/*.outage.test.ts', 'test/**/*.alone.test.ts'],
          globalSetup: ['test/support/global-stack.ts'],
          testTimeout: 30_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'serial',
          include: ['test/**/*.outage.test.ts', 'test/**/*.alone.test.ts'],
          globalSetup: ['test/support/global-stack.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
