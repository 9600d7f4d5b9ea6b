// The CLI keeps Node's compiled code in the user's cache folder where Node can (22.1+), and a folder
// that cannot be made changes nothing: same output, same status, nothing on standard error, no hang
// (Node's own recursive mkdir spins forever under /proc). Node 20 has no compile cache: nothing is made.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import module from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cli-compile-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasCompileCache = "enableCompileCache" in module;

/** The CLI (through tsx) with `args`, under `env` over this process's; a hang is killed and fails. */
function run(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(root, "src/node/cli.ts"), ...args], {
    env: { ...process.env, NODE_COMPILE_CACHE: undefined, NODE_DISABLE_COMPILE_CACHE: undefined, ...env },
    encoding: "utf8",
    timeout: 600_000, // tsx compiles the CLI each run: 60 s a run at load 30
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe("the CLI's compile cache", () => {
  test(`is kept under $XDG_CACHE_HOME/buildid-cache (Node ${process.version}: ${hasCompileCache ? "has one" : "none, nothing made"}), and a folder that cannot be made changes nothing`, () => {
    const args = ["buildid-list", "-i", process.execPath];
    const cache = join(dir, "cache");
    const first = run(args, { XDG_CACHE_HOME: cache });
    expect(first).toMatchObject({ status: 0, signal: null, stderr: "" });
    const kept = join(cache, "buildid-cache", "node-compile-cache");
    if (hasCompileCache) {
      // One folder per Node version and user, as Node names them, with the compiled modules in it.
      const [version, ...others] = readdirSync(kept);
      expect(others).toEqual([]);
      expect(readdirSync(join(kept, version!)).length).toBeGreaterThan(0);
      expect(run(args, { XDG_CACHE_HOME: cache })).toEqual(first);
    } else expect(existsSync(kept)).toBe(false);

    const file = join(dir, "a-file");
    writeFileSync(file, "");
    for (const env of [
      { XDG_CACHE_HOME: "/proc/no-such-folder", HOME: "/proc" },
      { XDG_CACHE_HOME: "", HOME: "/proc" },
      { XDG_CACHE_HOME: file },
      { XDG_CACHE_HOME: "relative", HOME: "relative" },
    ])
      expect(run(args, env), JSON.stringify(env)).toEqual(first);
  }, 1_800_000);
});
