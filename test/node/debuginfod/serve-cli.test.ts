// The serve command as a process on 127.0.0.1: its printed address, elfutils' debuginfod-find against
// it byte for byte, a rescan on SIGUSR1 saved to --index, and SIGTERM's clean exit 143.
import type { ChildProcess } from "node:child_process";
import { execFile } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { bundleCli, type CliRun, runCli } from "../../helpers/cli.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get, refused } from "./http.js";

const NEW_ID = `1122334455667788${"dd".repeat(12)}`;
const WAIT_MS = 60_000; // room for a loaded 2-core machine

let tree: Tree;
let extra: Tree;
let cli: string;
beforeAll(async () => {
  tree = makeTree();
  extra = makeTree([NEW_ID]);
  cli = await bundleCli(join(tree.dir, "bundle"));
});
afterAll(() => {
  rmSync(tree.dir, { recursive: true, force: true });
  rmSync(extra.dir, { recursive: true, force: true });
});

function debuginfodFind(args: string[], url: string): Promise<{ code: number; out: string; err: string }> {
  const home = mkdtempSync(join(tree.dir, "home-"));
  const env = { PATH: process.env.PATH, HOME: home, DEBUGINFOD_CACHE_PATH: join(home, "cache"), DEBUGINFOD_URLS: url };
  return new Promise((resolve) => {
    execFile("debuginfod-find", args, { env, timeout: WAIT_MS }, (error, out, err) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: out.trim(), err }),
    );
  });
}

// Resolves with what the child printed once `pattern` matches its stdout (or stderr).
function printed(
  child: ChildProcess,
  pattern: RegExp,
  stream: "stdout" | "stderr" = "stdout",
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} on ${stream} in ${WAIT_MS} ms: ${out}`)), WAIT_MS);
    child[stream]!.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
  });
}

async function until(url: string, status: number): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const r = await get(url);
    await r.arrayBuffer();
    if (r.status === status || Date.now() > deadline) return r.status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("buildid-cache serve, as a process", () => {
  it("prints its address, serves debuginfod-find, rescans on SIGUSR1, and exits 143 on SIGTERM", async () => {
    const saved = join(tree.dir, "index");
    let child!: ChildProcess;
    const run: Promise<CliRun> = runCli(
      cli,
      ["serve", "--port", "0", "--rescan-time", "0", "--index", saved, "--no-progress", tree.root],
      { timeoutMs: 4 * WAIT_MS, started: (c) => (child = c) },
    );
    const scanned = printed(child, /^indexed 2 build IDs/m, "stderr");
    const [, url, port] = await printed(child, /^serving (http:\/\/127\.0\.0\.1:(\d+))\n/m);
    await scanned;
    for (const p of tree.programs) {
      for (const [kind, file] of [
        ["executable", p.executable],
        ["debuginfo", p.debuginfo],
      ] as const) {
        const r = await debuginfodFind([kind, p.id], url!);
        expect(r, r.err).toMatchObject({ code: 0 });
        expect(readFileSync(r.out)).toEqual(readFileSync(file));
      }
    }

    const late = `${url}/buildid/${NEW_ID}/executable`;
    expect(await until(late, 404)).toBe(404);
    copyFileSync(extra.programs[0]!.executable, join(tree.dir, "late.tmp"));
    renameSync(join(tree.dir, "late.tmp"), join(tree.root, "bin", "late"));
    child.kill("SIGUSR1");
    expect(await until(late, 200)).toBe(200);
    const fetched = await debuginfodFind(["executable", NEW_ID], url!);
    expect(readFileSync(fetched.out)).toEqual(readFileSync(extra.programs[0]!.executable));

    child.kill("SIGTERM");
    const ended = await run;
    expect(ended, ended.stderr).toMatchObject({ code: 143, signal: null });
    expect(ended.stderr).toMatch(/^indexed 3 build IDs .*: 1 read, \d+ unchanged, 0 gone/m);
    expect(ended.stderr).not.toMatch(/\n\s+at /);
    expect(await refused(Number(port))).toBe(true);
    const reloaded = await BuildIdIndex.open(saved, { readonly: true });
    expect(reloaded.lookup(NEW_ID).map((f) => f.path)).toEqual([join(tree.root, "bin", "late")]);
    reloaded.dispose();
  });

  it("refuses a rescan time that is not a whole number of seconds, naming it", async () => {
    const r = await runCli(cli, ["serve", "--rescan-time", "1.5", tree.root], { timeoutMs: WAIT_MS });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--rescan-time must be an integer from 0 to 2147483, got "1\.5"/);
  });
});
