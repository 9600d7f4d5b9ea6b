import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/browser/**", "node_modules/**"],
    setupFiles: ["test/setup.ts"],
    testTimeout: 60_000,
    pool: "forks",
    // Most files wait on perf, gcc, elfutils and child processes: vitest's default (cores - 1) ran one file at a time on 2 cores.
    maxWorkers: availableParallelism() + 1,
  },
});
