/**
 * `list`: the build IDs in perf's build-ID store and the paths they were added from, as
 * `perf buildid-cache --list` prints them.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { listPerfStore } from "../perf-store.js";
import { withHelpSections } from "./help.js";
import { COMMON_EXITS, type CommandContext, hexJson, STORE_DIR_OPTION, STORE_ENVIRONMENT } from "./shared.js";

/** Adds `list` to `program` and returns it. */
export function registerList(program: Command, context: CommandContext): Command {
  const { output } = context;
  const command = program
    .command("list")
    .summary("list the build IDs in perf's build-ID store")
    .description("list the build IDs in perf's build-ID store, with the paths they were added from")
    .option(...STORE_DIR_OPTION)
    .option("--json", "print JSON: one object per build ID")
    .action(async (options: { dir?: string; json?: boolean }) => {
      const entries = await listPerfStore(options.dir);
      if (options.json) output.out(hexJson(entries));
      else for (const e of entries) output.out(`${e.buildId} ${e.path ?? "(not a perf link)"}\n`);
    });
  withHelpSections(command, {
    examples: [["buildid-cache list", "one line per build ID in ~/.debug: the ID and the path it was added from"]],
    environment: STORE_ENVIRONMENT,
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
