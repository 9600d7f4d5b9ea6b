// gdb and debuginfod-find fetching sources from serve (serveDebuginfod over an index that recorded the
// sources when it read the debug file), with the source directory hidden from gdb (a tmpfs mounted over
// it in gdb's own mount namespace).
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { ArtifactNotFoundError, findArtifact } from "../../../src/node/debuginfod/client.js";
import { type DebuginfodServer, serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { have, tool } from "./dwarf-fixtures.js";

function canUnshare(): boolean {
  try {
    execFileSync("unshare", ["-m", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const missing = !have("gcc", "gdb", "debuginfod-find") || !canUnshare();

let dir: string;
let src: string;
let binary: string;
let id: string;
let index: BuildIdIndex;
let server: DebuginfodServer;
let url: string;

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), "sources-clients-"));
  src = join(dir, "src");
  mkdirSync(src);
  mkdirSync(join(dir, "bin"));
  writeFileSync(
    join(src, "main.c"),
    '#include "util.h"\nint main(void) {\n  int x = twice(21);\n  return x - 42;\n}\n',
  );
  writeFileSync(join(src, "util.h"), "static inline int twice(int x) {\n  return 2 * x;\n}\n");
  writeFileSync(join(src, "unnamed.c"), "int unnamed;\n");
  binary = join(dir, "bin/prog");
  tool("gcc", ["-g", "-O0", "main.c", "-o", binary], src);
  id = /Build ID: ([0-9a-f]+)/.exec(tool("readelf", ["-n", binary]))![1]!;
  index = await BuildIdIndex.create({ roots: [dir] });
  await index.scan();
  server = await serveDebuginfod(index, { port: 0 });
  url = server.url;
});

afterAll(async () => {
  if (server) await server.close();
  index?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The environment a debuginfod client runs in here: this server only, and a cache of its own. */
const clientEnv = (cache: string) => ({
  PATH: process.env.PATH,
  HOME: dir,
  DEBUGINFOD_URLS: url,
  DEBUGINFOD_CACHE_PATH: join(dir, cache),
});

describe.skipIf(missing)("clients fetching sources", () => {
  test("gdb lists main.c and util.h it cannot see, as it lists them when it can", async () => {
    const env = clientEnv("gdb-cache");
    const gdb = (hide: boolean) =>
      run(
        "unshare",
        [
          "-m",
          "sh",
          "-c",
          `${hide ? `mount -t tmpfs none "${src}" && ! test -e "${src}/main.c" && ` : ""}exec gdb -batch -nx -ex "set debuginfod enabled on" -ex "list main" -ex "list twice" "${binary}"`,
        ],
        env,
      );
    const seen = await gdb(false);
    const hidden = await gdb(true);
    expect(hidden.code, hidden.stderr).toBe(0);
    const listing = (out: string) => out.split("\n").filter((line) => /^\d+\t/.test(line));
    expect(listing(seen.stdout).length).toBeGreaterThanOrEqual(8);
    expect(listing(hidden.stdout)).toEqual(listing(seen.stdout));
    expect(hidden.stdout + hidden.stderr).toContain(`Downloading source file ${src}/main.c`);
  });

  test("debuginfod-find source gets a named file's bytes, and nothing for an unnamed one that exists", async () => {
    const env = clientEnv("find-cache");
    const found = await run("debuginfod-find", ["source", id, join(src, "util.h")], env);
    expect(found.code, found.stderr).toBe(0);
    expect(readFileSync(found.stdout.trim())).toEqual(readFileSync(join(src, "util.h")));
    const refused = await run("debuginfod-find", ["source", id, join(src, "unnamed.c")], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe("");
  });

  test("find source (this package's client) gets the same bytes, and ArtifactNotFoundError for the unnamed file", async () => {
    const options = { urls: [url], cachePath: join(dir, "our-cache"), env: {} };
    const found = await findArtifact("source", id, { ...options, file: join(src, "main.c") });
    expect(readFileSync(found.path)).toEqual(readFileSync(join(src, "main.c")));
    await expect(findArtifact("source", id, { ...options, file: join(src, "unnamed.c") })).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
  });
});
