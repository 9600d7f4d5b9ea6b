// The installed command (package.json's bin, dist/cli.cjs) on a -z recording: Node's own zstd where node:zlib
// has it, and no WebAssembly loaded; elsewhere (Node 20) zstd's wasm build from its CommonJS bundle,
// dist/cli-zstd-wasm.cjs, with no ES module linked (imported as an ES module it booted Node 20's ES loader);
// fzstd not loaded. Every way in, commander's and `node dist/node/cli.js`'s too, decodes with Node's own where it has it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { nativeZstdEngine } from "../../src/node/zstd-native.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = join(root, "dist/cli.cjs");
const dir = mkdtempSync(join(tmpdir(), "zstd-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = existsSync(bin) ? perfCannotRecord(dir) : `no ${bin} (npm run build)`;
if (cannot) console.log(`skipped: ${cannot}`);

/** What a run of the bin with `args` loaded: Node's internal modules and the files it required. */
function loaded(args: string[], script = bin): { status: number | null; modules: string[]; required: string[] } {
  const out = join(dir, "loaded.json");
  const preload = join(dir, "loaded.cjs");
  writeFileSync(
    preload,
    "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify({ modules: process.moduleLoadList, required: Object.keys(require.cache) })));\n",
  );
  const r = spawnSync(process.execPath, ["--require", preload, script, ...args], {
    env: { ...process.env, LOADED_OUT: out },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { status: r.status, ...(JSON.parse(readFileSync(out, "utf8")) as { modules: string[]; required: string[] }) };
}

describe.skipIf(cannot !== undefined)("the bin on a -z recording", () => {
  test("decodes with Node's own zstd where this Node has it, else the wasm build's CommonJS bundle; links no ES module, loads no fzstd", () => {
    const recording = join(dir, "z.data");
    perfRecord(recording, ["-z"]);
    // Node 24 links its ES module machinery into every process: what an empty .cjs loads is allowed.
    const esm = ["NativeModule internal/modules/esm/module_job", "NativeModule internal/modules/esm/translators"];
    const empty = join(dir, "empty.cjs");
    writeFileSync(empty, "");
    const always = loaded([], empty).modules;
    const native = nativeZstdEngine() !== undefined;
    for (const args of [
      ["buildid-list", "-H", "-i", recording],
      ["pprof", recording, "-o", join(dir, "out.pb.gz")],
    ]) {
      const run = loaded(args);
      expect(run.status, args.join(" ")).toBe(0);
      expect(
        run.modules.filter((m) => esm.includes(m) && !always.includes(m)),
        args.join(" "),
      ).toEqual([]);
      expect(run.required.includes(join(root, "dist/cli-zstd-wasm.cjs")), args.join(" ")).toBe(!native);
      // fzstd is the synchronous readers' engine only: 4-6 ms of a process to load.
      expect(
        run.required.filter((f) => f.includes("/fzstd/")),
        args.join(" "),
      ).toEqual([]);
    }
  }, 300_000);
});

describe.skipIf(cannot !== undefined)("every way in on a -z recording", () => {
  test("decodes with Node's own zstd where this Node has it, zstd's wasm build elsewhere", () => {
    const recording = join(dir, "ways.data");
    perfRecord(recording, ["-z"]);
    const out = join(dir, "used.json");
    const preload = join(dir, "used.cjs");
    // Whether a WebAssembly module with zstd's decoder in it was instantiated.
    writeFileSync(
      preload,
      "let zstd = false; const instantiate = WebAssembly.instantiate; WebAssembly.instantiate = async (...a) => { const r = await instantiate(...a); zstd ||= 'ZSTD_decompressStream' in (r.instance ?? r).exports; return r; }; process.on('exit', () => require('node:fs').writeFileSync(process.env.USED_OUT, JSON.stringify(zstd)));\n",
    );
    const program = join(root, "dist/node/cli.js");
    const profile = join(dir, "ways.pb.gz");
    // `-oFILE` and `-iFILE` are commander's to read: the plain line's reader leaves them to it.
    const ways: [string, string[]][] = [
      ["the bin, plain", [bin, "pprof", recording, "-o", profile]],
      ["the bin, commander", [bin, "pprof", recording, `-o${profile}`]],
      ["the program, plain", [program, "pprof", recording, "-o", profile]],
      ["the program, commander", [program, "pprof", recording, `-o${profile}`]],
      ["the bin, buildid-list, commander", [bin, "buildid-list", "-H", `-i${recording}`]],
      ["the program, buildid-list, plain", [program, "buildid-list", "-H", "-i", recording]],
    ];
    const native = nativeZstdEngine() !== undefined;
    for (const [way, args] of ways) {
      const r = spawnSync(process.execPath, ["--require", preload, ...args], {
        env: { ...process.env, USED_OUT: out },
        encoding: "utf8",
        timeout: 300_000,
      });
      expect(r.status, `${way}: ${r.stderr}`).toBe(0);
      expect(JSON.parse(readFileSync(out, "utf8")), way).toBe(!native);
    }
  }, 600_000);
});
