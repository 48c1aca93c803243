import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One file at a time, across projects: the brokers, PostgreSQL and the tests share 2 cores,
    // and the crash and fault proofs must not compete with each other for them.
    fileParallelism: false,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/conformance/**/*.test.ts'],
          exclude: ['test/integration/kafka-*.test.ts', 'test/conformance/kafka.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'kafka',
          include: ['test/integration/kafka-*.test.ts', 'test/conformance/kafka.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts', 'test/helpers/kafka-setup.ts'],
          testTimeout: 90_000,
          hookTimeout: 90_000,
        },
      },
    ],
  },
});
