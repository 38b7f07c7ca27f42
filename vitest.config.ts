import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "console/**", "bench/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: two test files at a time; each suite has its own SQLite dir and PostgreSQL database.
    maxWorkers: 2,
    pool: "forks",
    allowOnly: false,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
