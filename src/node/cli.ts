#!/usr/bin/env node
// `node dist/node/cli.js`, and the installed command's way for every line but a data command's plain one
// (./launcher.ts): Node keeps the code it compiles for the command between runs where it can (22.1+),
// then the program (./program.ts) runs. Imported, not static: those modules are compiled when they are
// linked, so the cache must be on before the first of them is.
import { enableCompileCache } from "./compile-cache.js";

enableCompileCache();

await import("./program.js");
