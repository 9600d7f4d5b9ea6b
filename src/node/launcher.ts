#!/usr/bin/env node
// The installed command (package.json's bin), bundled by scripts/bundle-cli.ts into dist/cli.cjs, CommonJS:
// a .js under "type": "module" boots Node's ES module loader, about 49 M instructions of a process on
// Node 20 (equal on 24). It turns the compile cache on, then runs `pprof` and `buildid-list` on a plain
// line from their CommonJS bundles beside it (dist/cli-pprof.cjs, dist/cli-buildid-list.cjs: no ES module
// of ours loads), and everything else (other commands, help, usage errors) through the program as
// `node dist/node/cli.js` runs it. Paths here are the bundle's, in dist/; `require` is CommonJS's own
// (node:module's createRequire loads the ES module loader on Node 20).
import { parseDataCommandLine } from "./commands/data-commands.js";
import { enableCompileCache } from "./compile-cache.js";
import { requireBundle } from "./launch-code-cache.js";

// V8's flags for this process only, before anything compiles (the compile cache keys its code by them).
// A fresh process spends about a third of its `pprof` instructions in TurboFan; inlining less makes its
// graphs smaller: `pprof` of a 12 MB recording 1,082 -> 1,052 M instructions on Node 20, 1,039 -> 1,008
// on 22, a deep-stacked one 1,368 -> 1,281 on 20; on 24 it costs (922 -> 936), so it is left there.
// Node 20 decodes -z with zstd's wasm build, kept in Liftoff: TurboFan's tier-up (even at 100 times V8's
// budget, in some runs) costs a 0.7 MB recording's `pprof` 75 M instructions of 1,325, and on a 3.7 MB one
// (47.7 MB of records) the decode is no faster for it: reading the records, not zstd, sets the pace.
const line = parseDataCommandLine(process.argv.slice(2));
const data = line?.command === "pprof" || line?.command === "buildid-list";
const major = Number.parseInt(process.versions.node, 10);
if (major < 24) {
  // Node checks its code cache of its own modules against V8's flags: a built-in first loaded after they change is
  // compiled from source (zlib, vm and fs.promises: 23 M instructions on Node 20), so a data command's come first.
  if (data) {
    process.getBuiltinModule("node:zlib");
    if (major < 22) process.getBuiltinModule("node:vm");
    if (line.command === "pprof") void process.getBuiltinModule("node:fs").promises;
    void process.stdout;
  }
  process
    .getBuiltinModule("node:v8")
    .setFlagsFromString(`--max-inlined-bytecode-size-cumulative=300${major < 22 ? " --no-wasm-tier-up" : ""}`);
}
enableCompileCache();

if (line?.command === "pprof") (requireBundle("./cli-pprof.cjs") as typeof import("./launch-pprof.js")).run(line);
else if (line?.command === "buildid-list")
  (requireBundle("./cli-buildid-list.cjs") as typeof import("./launch-buildid-list.js")).run(line);
else {
  // Not a literal: tsc would look for it beside this source.
  const program = "./node/cli.js";
  void import(program);
}
