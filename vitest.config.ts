import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/browser/**", "node_modules/**"],
    setupFiles: ["test/setup.ts"],
    // The CLI bundled once for the run; test/helpers/cli.ts copies it into each file's folder.
    globalSetup: ["test/global-setup.ts"],
    // At load 20 on 2 cores, 60 s (10 s for hooks) cut off a dwarfdump loop, 40 saver children and an rmSync.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    // Most files wait on perf, gcc, elfutils and child processes: vitest's default (cores - 1) ran one file at a time on 2 cores.
    maxWorkers: availableParallelism() + 1,
  },
});
