// Once per test run, before any file: the CLI bundled (16 files run it as a child process; each
// bundled its own copy, 0.45 s of esbuild's CPU each), into a temporary folder removed at the end.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildCliBundles } from "./helpers/cli.js";

interface Bundle {
  dir: Promise<string>;
  users: number;
}

// vitest runs this for the root and again for each project (vitest.config.ts): one bundle serves them all,
// removed by the last teardown.
const run = globalThis as typeof globalThis & { cliBundle?: Bundle };

async function bundled(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "bic-cli-bundle-"));
  await buildCliBundles(dir);
  return dir;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  run.cliBundle ??= { dir: bundled(), users: 0 };
  const bundle = run.cliBundle;
  bundle.users++;
  project.provide("cliBundle", await bundle.dir);
  return async () => {
    if (--bundle.users > 0) return;
    run.cliBundle = undefined;
    await rm(await bundle.dir, { recursive: true, force: true });
  };
}
