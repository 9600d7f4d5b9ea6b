/**
 * `add FILE...`: ELF files into perf's build-ID store, as `perf buildid-cache --add` does.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { addToPerfStore } from "../perf-store.js";
import { type CommandContext, hexJson, STORE_DIR_OPTION } from "./shared.js";

/**
 * Adds `add` to `program` and returns it. A file that `add` refuses is named on the context's
 * error output and sets a non-zero exit code; the others are still added.
 */
export function registerAdd(program: Command, context: CommandContext): Command {
  const { output } = context;
  program
    .command("add")
    .description("add ELF files to perf's build-ID store, in perf's layout")
    .argument("<file...>", "ELF files with build IDs")
    .option(...STORE_DIR_OPTION)
    .option("--json", "print JSON")
    .action(async (files: string[], options: { dir?: string; json?: boolean }) => {
      const added = [];
      for (const file of files) {
        try {
          added.push(await addToPerfStore(file, { dir: options.dir }));
        } catch (error) {
          output.err(`buildid-cache: ${(error as Error).message}\n`);
          process.exitCode = 1;
        }
      }
      if (options.json) output.out(hexJson(added));
      else for (const a of added) output.out(`${a.buildId} ${a.path}\n`);
    });
  return program;
}
