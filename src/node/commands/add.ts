/**
 * `add FILE...`: ELF files into perf's build-ID store, as `perf buildid-cache --add` does.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { addToPerfStore } from "../perf-store.js";
import { withHelpSections } from "./help.js";
import {
  COMMON_EXITS,
  type CommandContext,
  EXIT,
  errorText,
  hexJson,
  STANDARD_STREAM,
  STORE_DIR_OPTION,
  STORE_ENVIRONMENT,
  UsageError,
} from "./shared.js";

/** Whether `file` is a name the kernel gives a mapping with no file (`[vdso]`, `[kernel.kallsyms]`), as perf prints it. */
function isPseudoName(file: string): boolean {
  return file.length > 2 && file.startsWith("[") && file.endsWith("]") && !file.includes("/");
}

/**
 * Adds `add` to `program` and returns it. A file that `add` refuses is named on the context's
 * error output and sets exit status 1; the others are still added. A pseudo name that is no file
 * here (`[vdso]`, as `perf buildid-list` prints it) is skipped with a word on the error output.
 */
export function registerAdd(program: Command, context: CommandContext): Command {
  const { output } = context;
  const command = program
    .command("add")
    .summary("add ELF files to perf's build-ID store")
    .description("add ELF files to perf's build-ID store, in perf's layout, and print each one's build ID and path")
    .argument("<file...>", "ELF files with build IDs")
    .option(...STORE_DIR_OPTION)
    .option("--json", "print JSON: one object per file added")
    .action(async (files: string[], options: { dir?: string; json?: boolean }) => {
      if (files.includes(STANDARD_STREAM)) {
        throw new UsageError(
          "add cannot read - (standard input): perf's store links each build ID to the path it came from",
        );
      }
      const added = [];
      for (const file of files) {
        try {
          added.push(await addToPerfStore(file, { dir: options.dir }));
        } catch (error) {
          if (isPseudoName(file) && (error as NodeJS.ErrnoException).code === "ENOENT") {
            output.err(`buildid-cache: skipped ${file}: the kernel's name for a mapping, not a file\n`);
            continue;
          }
          output.err(`buildid-cache: ${errorText(error)}\n`);
          process.exitCode = EXIT.failure;
        }
      }
      if (options.json) output.out(hexJson(added));
      else for (const a of added) output.out(`${a.buildId} ${a.path}\n`);
    });
  withHelpSections(command, {
    examples: [
      ["buildid-cache add ./app ./libfoo.so", "store both where perf report looks for them (~/.debug)"],
      ["buildid-cache add --dir /srv/debug --json /usr/bin/*", "into another store, the result as JSON"],
      [
        "perf buildid-list | cut -d' ' -f2 | xargs buildid-cache add",
        "every file a recording hit; [vdso] and [kernel.kallsyms] are skipped with a word",
      ],
    ],
    environment: STORE_ENVIRONMENT,
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
