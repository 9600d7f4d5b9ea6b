// The bundled command (npm run build: dist/node/cli.js and its chunks in dist/cli/) reads Node's built-ins
// through process.getBuiltinModule, not as ES modules: Node makes a built-in's ES module by reading every
// export, and node:fs's lazy getters then load its streams, promises, watchers and readline in every run.
// The installed command (package.json's bin, dist/cli.cjs) runs `pprof` and `buildid-list` on plain lines
// from CommonJS bundles: no ES module of ours, and Node links none (its ES loader's boot is 49 M instructions).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dist = join(root, "dist");
const cli = join(dist, "node/cli.js");
const dir = mkdtempSync(join(tmpdir(), "cli-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The installed command, as package.json's bin names it. */
const bin = join(
  root,
  (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { bin: Record<string, string> }).bin[
    "buildid-cache"
  ]!,
);
const built = existsSync(cli) && existsSync(bin);
if (!built) console.log(`skipped: no ${cli} (npm run build)`);

describe.runIf(built)("the bundled command", () => {
  test("imports no built-in as an ES module, but for a whole namespace or a dynamic import()", () => {
    const files = [cli, ...readdirSync(join(dist, "cli")).map((f) => join(dist, "cli", f))].filter((f) =>
      f.endsWith(".js"),
    );
    const statements = files.flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/^import\s+([^;]*?)\s+from\s*"(node:[\w/]+)"/gm)].map(
        ([, clause, id]) => `${f.slice(dist.length + 1)}: import ${clause} from ${id}`,
      ),
    );
    expect(statements.filter((s) => !/import \* as/.test(s))).toEqual([]);
  });

  test("loads no node:fs stream in a run that writes no file (buildid-list of an ELF file)", () => {
    const out = join(dir, "loaded.json");
    const preload = join(dir, "loaded.cjs");
    writeFileSync(
      preload,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify(process.moduleLoadList)));\n",
    );
    const r = spawnSync(process.execPath, ["--require", preload, cli, "buildid-list", "-i", process.execPath], {
      env: { ...process.env, LOADED_OUT: out },
      encoding: "utf8",
      timeout: 300_000,
    });
    expect(r).toMatchObject({ status: 0, stderr: "" });
    const loaded = JSON.parse(readFileSync(out, "utf8")) as string[];
    expect(loaded).not.toContain("NativeModule internal/fs/streams");
  }, 600_000);

  // Node links an ES module through a module job (internal/modules/esm/module_job) after translating it
  // (esm/translators): neither loads in a process that imports none.
  const ES_MODULE_LINKED = [
    "NativeModule internal/modules/esm/module_job",
    "NativeModule internal/modules/esm/translators",
  ];
  const preload = join(dir, "loaded-bin.cjs");
  writeFileSync(
    preload,
    "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify({ modules: process.moduleLoadList, required: Object.keys(require.cache) })));\n",
  );
  const loaded = (args: string[], script = bin) => {
    const out = join(dir, `bin-${args.join("_").replace(/\W/g, "")}.json`);
    const r = spawnSync(process.execPath, ["--require", preload, script, ...args], {
      env: { ...process.env, LOADED_OUT: out },
      encoding: "utf8",
      timeout: 300_000,
    });
    const { modules, required } = JSON.parse(readFileSync(out, "utf8")) as { modules: string[]; required: string[] };
    return { status: r.status, stderr: r.stderr, modules, required };
  };
  const cannot = perfCannotRecord(dir);
  if (cannot) console.log(`pprof and -H on a recording skipped: ${cannot}`);

  test("the bin runs pprof and buildid-list on plain lines with no ES module loaded; other lines through dist/node/cli.js", () => {
    const lines = [["buildid-list", "-i", process.execPath]];
    if (cannot === undefined) {
      const recording = join(dir, "perf.data");
      perfRecord(recording, []);
      lines.push(["buildid-list", "-H", "-i", recording], ["pprof", recording, "-o", join(dir, "out.pb.gz")]);
    }
    // Node 24 links its ES module machinery into every process, a plain CommonJS one too: what an empty
    // .cjs loads is allowed (none on Node 20 and 22).
    const empty = join(dir, "empty.cjs");
    writeFileSync(empty, "");
    const always = loaded(["empty"], empty).modules.filter((m) => ES_MODULE_LINKED.includes(m));
    for (const args of lines) {
      const run = loaded(args);
      expect(run, args.join(" ")).toMatchObject({ status: 0, stderr: "" });
      expect(
        run.modules.filter((m) => ES_MODULE_LINKED.includes(m) && !always.includes(m)),
        args.join(" "),
      ).toEqual([]);
      expect(run.required, args.join(" ")).toContain(join(dist, `cli-${args[0]}.cjs`));
    }
    // The probe sees an ES module where one loads: help and the other commands run the program.
    for (const args of [
      ["buildid-list", "--help"],
      ["list", "--help"],
    ]) {
      const run = loaded(args);
      expect(run.status, args.join(" ")).toBe(0);
      expect(run.modules, args.join(" ")).toEqual(expect.arrayContaining(ES_MODULE_LINKED));
    }
  }, 600_000);

  // V8's flags are the process's: the bin sets its own (Node 20 and 22) before it compiles a data command's
  // bundle, and the library never sets any (a program that imports it keeps the flags it chose).
  test("the bin sets V8 flags before it requires a data command's bundle; the library entries set none", () => {
    const probe = join(dir, "v8-flags.cjs");
    writeFileSync(
      probe,
      [
        "const v8 = require('node:v8'), set = v8.setFlagsFromString, calls = [];",
        "v8.setFlagsFromString = (flag) => { calls.push({ flag, required: Object.keys(require.cache) }); set(flag); };",
        "process.on('exit', () => require('node:fs').writeFileSync(process.env.FLAGS_OUT, JSON.stringify(calls)));",
      ].join("\n"),
    );
    const flagsSet = (args: string[]) => {
      const out = join(dir, `flags-${args.length}.json`);
      const r = spawnSync(process.execPath, ["--require", probe, ...args], {
        env: { ...process.env, FLAGS_OUT: out },
        encoding: "utf8",
        timeout: 300_000,
      });
      expect(r, args.join(" ")).toMatchObject({ status: 0, stderr: "" });
      return JSON.parse(readFileSync(out, "utf8")) as { flag: string; required: string[] }[];
    };
    const calls = flagsSet([bin, "buildid-list", "-i", process.execPath]);
    // Node 24 keeps its defaults (see src/node/launcher.ts).
    expect(calls.length > 0).toBe(Number.parseInt(process.versions.node, 10) < 24);
    for (const call of calls) expect(call.required.filter((f) => /cli-[\w-]+\.cjs$/.test(f))).toEqual([]);
    const library = join(dir, "library.mjs");
    writeFileSync(
      library,
      `await import(${JSON.stringify(join(dist, "index.js"))});\nawait import(${JSON.stringify(join(dist, "node/index.js"))});\n`,
    );
    expect(flagsSet([library])).toEqual([]);
  }, 600_000);
});
