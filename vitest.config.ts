import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

const EXCLUDE = ["test/browser/**", "node_modules/**"];

// Files that need a process of their own. The others share their workers' processes and loaded modules
// (isolate: false), which saves vitest's per-file start (about 0.33 s of CPU a file, 33 s a run).
const ISOLATED = [
  // vi.mock: a mocked module would be served to every later file of the worker.
  "test/node/debuginfod/archive-readahead.test.ts",
  // vi.mock, and counts the loads of a module another file may have loaded first.
  "test/perf/zstd-lazy.test.ts",
  // Counts the process's open descriptors exactly.
  "test/node/procfs/proc-stat.test.ts",
  // Measure the process's or the heap's growth: another file's leftovers in the same process moved
  // stream-memory's RSS growth to 158 MB against its 150 (a fresh-clone CI on Node 20).
  "test/perf/stream-memory.test.ts",
  "test/perf/hostile.test.ts",
  "test/spaces/limits.test.ts",
  // Run commands in-process: process.exitCode, signal handlers and standard output are the process's.
  "test/node/core-file.test.ts",
  "test/node/data-commands.test.ts",
  "test/node/debuginfod/client.test.ts",
  "test/node/perf-store.test.ts",
];

export default defineConfig({
  test: {
    setupFiles: ["test/setup.ts"],
    // The CLI bundled once for the run; test/helpers/cli.ts copies it into each file's folder.
    globalSetup: ["test/global-setup.ts"],
    // At load 20 on 2 cores, 60 s (10 s for hooks) cut off a dwarfdump loop, 40 saver children and an rmSync.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    // Most files wait on perf, gcc, elfutils and child processes: vitest's default (cores - 1) ran one file at a time on 2 cores.
    maxWorkers: availableParallelism() + 1,
    projects: [
      { extends: true, test: { name: "isolated", include: ISOLATED, exclude: EXCLUDE, isolate: true } },
      {
        extends: true,
        test: { name: "shared", include: ["test/**/*.test.ts"], exclude: [...EXCLUDE, ...ISOLATED], isolate: false },
      },
    ],
  },
});
