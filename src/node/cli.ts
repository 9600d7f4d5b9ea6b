#!/usr/bin/env node
// The buildid-cache command: wires the commands of ./commands/ into one program. `census` is the default.
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { CacheFileRefusedError } from "./cache-file.js";
import { ProcUnavailableError } from "./census.js";
import { registerAdd } from "./commands/add.js";
import { registerAnnotate } from "./commands/annotate.js";
import { registerCensus } from "./commands/census.js";
import { registerCore } from "./commands/core.js";
import { registerFind } from "./commands/find.js";
import { registerList } from "./commands/list.js";
import { registerResolve } from "./commands/resolve.js";
import { registerServe } from "./commands/serve.js";
import { closeStandardOutput, commandContext, EXIT } from "./commands/shared.js";

const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

const context = commandContext();

async function exitSaving(status: number): Promise<void> {
  const saved = await context.finish();
  process.exit(saved || status !== EXIT.ok ? status : EXIT.cacheNotSaved);
}

process.once("SIGINT", () => void exitSaving(EXIT.SIGINT));
process.once("SIGTERM", () => void exitSaving(EXIT.SIGTERM));
// Behind `head`, as coreutils do: stop printing, save, exit 0.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  if (closeStandardOutput()) void exitSaving(EXIT.ok);
});

const program = new Command()
  .name("buildid-cache")
  .description("ELF build IDs of live processes and pprof files, through a WebAssembly cache keyed by (device, inode)")
  .version(version)
  .showHelpAfterError();
for (const register of [
  registerCensus,
  registerResolve,
  registerAnnotate,
  registerAdd,
  registerList,
  registerCore,
  registerServe,
  registerFind,
]) {
  register(program, context);
}

try {
  await program.parseAsync();
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`buildid-cache: ${message}\n`);
  process.exitCode =
    error instanceof ProcUnavailableError
      ? EXIT.noProc
      : error instanceof CacheFileRefusedError
        ? EXIT.cacheRefused
        : EXIT.error;
}
