// `pprof`'s plain line as the launcher (./launcher.ts) runs it: bundled into one CommonJS file with
// what it runs on (scripts/bundle-cli.ts), which the launcher requires.
import { runDataLine, startCommand } from "./command-setup.js";
import type { DataCommandLine } from "./commands/data-commands.js";
import { runPprof } from "./commands/pprof-run.js";

/** Runs `line` as the program would. */
export function run(line: Extract<DataCommandLine, { command: "pprof" }>): Promise<void> {
  const context = startCommand();
  return runDataLine(() => runPprof(line.input, line.options, context));
}
