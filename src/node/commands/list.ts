/**
 * `list`: the build IDs in perf's build-ID store and the paths they were added from, as
 * `perf buildid-cache --list` prints them.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { listPerfStore } from "../perf-store.js";
import { type CommandContext, hexJson, STORE_DIR_OPTION } from "./shared.js";

/** Adds `list` to `program` and returns it. */
export function registerList(program: Command, context: CommandContext): Command {
  const { output } = context;
  program
    .command("list")
    .description("list the build IDs in perf's build-ID store, with the paths they were added from")
    .option(...STORE_DIR_OPTION)
    .option("--json", "print JSON")
    .action(async (options: { dir?: string; json?: boolean }) => {
      const entries = await listPerfStore(options.dir);
      if (options.json) output.out(hexJson(entries));
      else for (const e of entries) output.out(`${e.buildId} ${e.path ?? "(not a perf link)"}\n`);
    });
  return program;
}
