// Names the maps line cannot tell apart, mapped by real processes: a file really called
// `lit (deleted)` is not a deleted `lit`, and a name with the four characters `\012` is not one
// with a newline (the kernel prints both as `\012`). Resolution.path and mapping.deleted must be
// the file's own name, as the test created it.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, test } from "vitest";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { killAndReap, readelfBuildId, SLEEP } from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-names-"));
const REMAP = join(dir, "remap");
execFileSync("cc", ["-O1", "-o", REMAP, new URL("../../fixtures/proc/remap.c", import.meta.url).pathname]);
const AT = 0x1000_0000_0000n;
const ID = readelfBuildId(SLEEP);

/** Each file: its name, and whether the test unlinks it once mapped. */
const FILES = [
  { name: "lit (deleted)", unlink: false },
  { name: "back\\012slash", unlink: false },
  { name: "new\nline", unlink: false },
  { name: "gone", unlink: true },
  { name: "lit2 (deleted)", unlink: true },
  { name: "both\\012kinds\nhere (deleted)", unlink: false },
];
const children: ChildProcess[] = [];

beforeAll(async () => {
  for (const { name, unlink } of FILES) {
    const path = join(dir, name);
    copyFileSync(SLEEP, path);
    const child = spawn(REMAP, ["mapped", path, `0x${AT.toString(16)}`], { stdio: ["pipe", "pipe", "inherit"] });
    children.push(child);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe("file");
    if (unlink) unlinkSync(path);
  }
});
afterAll(async () => {
  for (const child of children) await killAndReap(child);
  rmSync(dir, { recursive: true, force: true });
});

test("each mapping's path is the file's own name, deleted only when it was unlinked", async () => {
  const resolver = await BuildIdResolver.create();
  const seen = [];
  for (const child of children) {
    const r = await resolver.resolve(child.pid!, AT + 8n);
    seen.push(r.ok ? { buildId: r.buildId, path: r.path, deleted: r.mapping.deleted } : { failed: r.detail });
  }
  expect(seen).toEqual(FILES.map(({ name, unlink }) => ({ buildId: ID, path: join(dir, name), deleted: unlink })));
});
