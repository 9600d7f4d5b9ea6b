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

enableCompileCache();

const line = parseDataCommandLine(process.argv.slice(2));
if (line?.command === "pprof") (require("./cli-pprof.cjs") as typeof import("./launch-pprof.js")).run(line);
else if (line?.command === "buildid-list")
  (require("./cli-buildid-list.cjs") as typeof import("./launch-buildid-list.js")).run(line);
else {
  // Not a literal: tsc would look for it beside this source.
  const program = "./node/cli.js";
  void import(program);
}
