// `buildid-list`'s plain line as the launcher (./launcher.ts) runs it: bundled into one CommonJS file
// with what it runs on (scripts/bundle-cli.ts), which the launcher requires.
import { runDataLine, startCommand } from "./command-setup.js";
import { runBuildIdList } from "./commands/buildid-list-run.js";
import type { DataCommandLine } from "./commands/data-commands.js";

/** Runs `line` as the program would. */
export function run(line: Extract<DataCommandLine, { command: "buildid-list" }>): Promise<void> {
  const context = startCommand();
  return runDataLine(() => runBuildIdList(line.options, context));
}
