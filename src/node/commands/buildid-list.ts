/**
 * `buildid-list -i FILE [--with-hits]`: the lines `perf buildid-list -i` prints for a recording, or
 * for an ELF file its build ID, as perf does.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { type BuildIdListOptions, runBuildIdList } from "./buildid-list-run.js";
import { withHelpSections } from "./help.js";
import { COMMON_EXITS, type CommandContext } from "./shared.js";

/** Adds `buildid-list` to `program` and returns it. */
export function registerBuildIdList(program: Command, context: CommandContext): Command {
  const command = program
    .command("buildid-list")
    .summary("list the build IDs of a perf recording, as perf buildid-list does")
    .description(
      "list the build IDs a perf recording names, one '<build id> <path>' line per dso in the order and with the padding perf buildid-list -i prints them ([kernel.kallsyms] and [vdso] included; an ID perf does not know is left blank); given an ELF file, print its build ID",
    )
    .option("-i, --input <file>", "the recording (file or pipe mode, -z too); - reads standard input", "perf.data")
    .option(
      "-H, --with-hits",
      "only the dsos a sample's IP fell in (perf lists only those anyway for a recording without a build-ID table: pipe mode, --buildid-mmap)",
    )
    .option("--json", "print JSON: one object per line, with its build ID, name and whether it had hits")
    .action((options: BuildIdListOptions) => runBuildIdList(options, context));
  withHelpSections(command, {
    examples: [
      ["buildid-cache buildid-list -i perf.data", "every dso of the recording with its build ID"],
      ["buildid-cache buildid-list -H -i perf.data", "only the dsos samples fell in"],
      ["perf record -o - -- ./app | buildid-cache buildid-list -i -", "a recording piped in as it is made"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
