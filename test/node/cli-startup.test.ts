// What the CLI loads before it runs: only the command named, so a command that needs neither the
// debuginfod server nor the WebAssembly resolver does not pay for loading them. Observed through
// Node's own list of the built-in modules a process loaded, written at exit by a preloaded script.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { majorMinorOf } from "../../src/node/identity.js";
import { recordedFileReader } from "../../src/node/recorded-files.js";
import { BuildIdResolver } from "../../src/node/resolver/resolver.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "cli-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const preload = join(dir, "loaded.cjs");
writeFileSync(
  preload,
  "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify({ modules: process.moduleLoadList, required: Object.keys(require.cache) })));\n",
);

/**
 * The built-in modules a CLI run with `args` loaded (`NativeModule http`, ...), the other modules it
 * loaded (their URLs, as NODE_DEBUG=esm names them on standard error), the CommonJS files it required
 * (require.cache), and its exit status.
 */
function loaded(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { status: number | null; modules: string[]; urls: string[]; required: string[] } {
  const out = join(dir, `loaded-${args.join("_").replace(/\W/g, "")}.json`);
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", "--require", preload, join(root, "src/node/cli.ts"), ...args],
    {
      env: { ...process.env, ...env, LOADED_OUT: out, NODE_DEBUG: "esm" },
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024, // NODE_DEBUG=esm writes megabytes
      timeout: 600_000, // tsx compiles the CLI each run: 60 s a run at load 30 under nice 10
    },
  );
  const urls = [...new Set(r.stderr.match(/file:\/\/[^\s'",]+/g) ?? [])];
  const { modules, required } = JSON.parse(readFileSync(out, "utf8")) as { modules: string[]; required: string[] };
  return { status: r.status, modules, urls, required };
}

const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipped: ${cannot}`);

describe("the CLI loads only the command that runs", () => {
  test("serve --help loads the server's node:http (the probe sees it); --version and buildid-list do not", () => {
    const serve = loaded(["serve", "--help"]);
    expect(serve.status).toBe(0);
    expect(serve.modules).toContain("NativeModule http");
    const version = loaded(["--version"]);
    expect(version.status).toBe(0);
    expect(version.modules).not.toContain("NativeModule http");
    const list = loaded(["buildid-list", "-i", process.execPath]);
    expect(list.status).toBe(0);
    expect(list.modules).not.toContain("NativeModule http");
  }, 900_000); // three runs: 188 s at load 30 under nice 10

  test("census, which instantiates the WebAssembly core, does not load undici (the loader's instanceof Response)", () => {
    const census = loaded(["census"]);
    expect(census.status).toBe(0);
    expect(census.modules.filter((m) => m.includes("undici"))).toEqual([]);
  }, 900_000);
});

describe("find starts on the client alone", () => {
  // commander, the local index (better-sqlite3, the archive readers, the scan pool), cli-progress and
  // node:https with tls were 0.10-0.19 s of CPU of a find with a hung first URL on Node 20 (0.38 -> 0.19 s).
  // (tsx itself loads node:crypto, which find no longer does: not checked here.)
  test("a plain find over http loads no commander, index, progress bar, https, tls or zlib beyond a bare GET; --root and an https URL load theirs", () => {
    const cache = join(dir, "find-cache");
    const packages = (run: ReturnType<typeof loaded>, name: string) =>
      run.required.filter((f) => f.includes(`/node_modules/${name}/`));
    // Port 1 refuses at once: the whole query runs (every server asked, retries) without a server here.
    const env = { DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_RETRY_LIMIT: "0" };
    const plain = loaded(["find", "debuginfo", "ab12", "-v"], { ...env, DEBUGINFOD_URLS: "http://127.0.0.1:1" });
    expect(plain.status).toBe(1); // not found
    expect(plain.modules).toContain("NativeModule http");
    for (const name of ["commander", "better-sqlite3", "cli-progress"]) expect(packages(plain, name)).toEqual([]);
    // Beside a bare refused GET under the same tsx and preload: on Node 22 tsx alone loads tls and zlib there.
    const bare = join(dir, "bare-get.mts");
    writeFileSync(bare, "(await import('node:http')).get('http://127.0.0.1:1').on('error', () => {});\n");
    const bareOut = join(dir, "loaded-bare.json");
    spawnSync(process.execPath, ["--import", "tsx", "--require", preload, bare], {
      env: { ...process.env, LOADED_OUT: bareOut },
      timeout: 600_000,
    });
    const bareModules = (JSON.parse(readFileSync(bareOut, "utf8")) as { modules: string[] }).modules;
    for (const m of ["https", "tls", "zlib"].map((name) => `NativeModule ${name}`))
      if (!bareModules.includes(m)) expect(plain.modules).not.toContain(m);
    expect(plain.modules).not.toContain("NativeModule https");
    // The probe sees them where a line asks for them.
    const root = join(dir, "find-root");
    mkdirSync(root, { recursive: true });
    const local = loaded(["find", "debuginfo", "ab12", "--root", root], {
      ...env,
      DEBUGINFOD_URLS: "https://127.0.0.1:1",
    });
    expect(local.status).toBe(1);
    expect(packages(local, "better-sqlite3").length).toBeGreaterThan(0);
    expect(packages(local, "commander")).toEqual([]);
    expect(local.modules).toContain("NativeModule https");
    expect(local.modules).toContain("NativeModule tls");
  }, 900_000); // two runs: 60 s each at load 30 under nice 10
});

describe.skipIf(cannot !== undefined)("a recording's commands start on what they run", () => {
  // The web streams came with openAsBlob's stream(), the loader with the CLI's import of default-core:
  // 15-25 ms of a start between them on Node 20-24. (tsx itself loads fs/promises: not seen here.)
  test("buildid-list -H and pprof load no web streams and no WebAssembly loader; census loads the loader", () => {
    const recording = join(dir, "perf.data");
    perfRecord(recording, []);
    const list = loaded(["buildid-list", "-H", "-i", recording]);
    expect(list.status).toBe(0);
    const pprof = loaded(["pprof", recording, "-o", join(dir, "out.pb.gz")]);
    expect(pprof.status).toBe(0);
    for (const run of [list, pprof]) {
      // Node's start loads webstreams/util for Blob; the streams themselves come with stream().
      expect(run.modules.filter((m) => /webstreams\/(readable|writable)stream/.test(m))).toEqual([]);
      expect(run.urls.filter((u) => u.includes("@assemblyscript/loader"))).toEqual([]);
    }
    // Writing a profile needs no profile reader: pprof-format is 34 kB and a package's resolution.
    expect(pprof.urls.filter((u) => u.includes("/pprof-format/"))).toEqual([]);
    // The probe sees the loader where it is loaded, and pprof-format where the profile reader is.
    const census = loaded(["census", "--help"]);
    expect(census.status).toBe(0);
    expect(census.urls.filter((u) => u.includes("@assemblyscript/loader")).length).toBeGreaterThan(0);
    const annotate = loaded(["annotate", "--help"]);
    expect(annotate.status).toBe(0);
    expect(annotate.urls.filter((u) => u.includes("/pprof-format/")).length).toBeGreaterThan(0);
  }, 900_000);

  // commander (and the child_process it requires; tsx loads that too, so not checked here) was 20-30 ms of a data command's start on Node 20-24.
  test("pprof and buildid-list on plain lines load no commander; their help, a usage error and other commands do", () => {
    const recording = join(dir, "plain.data");
    perfRecord(recording, []);
    const commanderOf = (run: ReturnType<typeof loaded>) => run.required.filter((f) => f.includes("/commander/"));
    const plain = [
      loaded(["buildid-list", "-H", "-i", recording]),
      loaded(["buildid-list", `--input=${recording}`, "--json"]),
      loaded(["pprof", recording, "-o", join(dir, "plain.pb.gz"), "--no-read-files"]),
      loaded(["pprof", "--output", join(dir, "plain2.pb"), "--json", recording]),
    ];
    for (const run of plain) {
      expect(run.status).toBe(0);
      expect(commanderOf(run)).toEqual([]);
    }
    // The probe sees commander where it runs, and the lines it is left are still its to answer.
    for (const [args, status] of [
      [["pprof", "--help"], 0],
      [["pprof", recording], 2],
      [["buildid-list", "-Hi", recording], 0],
      [["list", "--help"], 0],
    ] as const) {
      const run = loaded([...args]);
      expect(run.status).toBe(status);
      expect(commanderOf(run).length).toBeGreaterThan(0);
    }
  }, 900_000);
});

describe("recordedFileReader", () => {
  test("given a function, makes the resolver once, at the first file read, never for the kernel or vdso", async () => {
    let made = 0;
    const read = recordedFileReader(
      () => {
        made++;
        return BuildIdResolver.create();
      },
      { trustPaths: true },
    );
    await read({ kind: "pseudo" } as never, "[vdso]", 1);
    expect(made).toBe(0);
    const { dev, ino } = statSync(process.execPath, { bigint: true });
    const file = { kind: "inode" as const, ...majorMinorOf(dev), inode: ino };
    const first = await read(file, process.execPath, 0);
    const second = await read(file, process.execPath, 0);
    expect(made).toBe(1);
    expect(second).toEqual(first);
  }, 60_000);
});
