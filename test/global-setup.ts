// Once per test run, before any file: the CLI bundled (16 files run it as a child process; each
// bundled its own copy, 0.45 s of esbuild's CPU each), into a temporary folder removed at the end.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { buildCliBundles } from "./helpers/cli.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), "bic-cli-bundle-"));
  await buildCliBundles(dir);
  project.provide("cliBundle", dir);
  return () => rm(dir, { recursive: true, force: true });
}
