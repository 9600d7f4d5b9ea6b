/**
 * `pprof FILE -o OUT.pb.gz`: a perf recording converted to a pprof profile, one Mapping per file with
 * its build ID, Locations at file offsets, call stacks kept; files the recording has no build ID for
 * are read on this machine by device and inode with a ctime before the recording began when it says
 * when (CLOCK_DATA, `perf record -k`), else only with `--trust-paths` (no moment proves the inode
 * number was not reused since).
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { withHelpSections } from "./help.js";
import { type PprofOptions, runPprof } from "./pprof-run.js";
import { COMMON_EXITS, type CommandContext } from "./shared.js";

export { writeProfileTo } from "./pprof-run.js";

/** Adds `pprof` to `program` and returns it. */
export function registerPprof(program: Command, context: CommandContext): Command {
  const command = program
    .command("pprof")
    .summary("convert a perf recording to a pprof profile with build IDs")
    .description(
      "convert a perf recording (file or pipe mode, -z too) to a pprof profile: one mapping per file with its build ID, locations at file offsets, call stacks kept, sample counts and periods as perf counts them; a sample's file is the one the kernel's events say was mapped at its address at its time",
    )
    .argument("<input>", "the recording; - reads standard input (perf record -o - piped in)")
    .requiredOption(
      "-o, --output <file>",
      "where to write the profile: gzip-compressed when it ends in .gz; - writes it gzip-compressed to standard output (not to a terminal), and the report to standard error",
    )
    .option("--no-read-files", "never read a file on this machine for a build ID the recording lacks")
    .option(
      "--trust-paths",
      "read a file the recording has no build ID for by its path, device and inode alone, accepting that a file made since the recording may have taken a deleted file's inode number (without it such a file is unresolved; a recording made with perf record -k says when it began, and then its ctime decides)",
    )
    .option(
      "--perf-maps",
      "name JIT frames (node --perf-basic-prof) from /tmp/perf-PID.map, as perf report does, but only a map of this user or root, not a symlink, modified since the recording began (a recording made with perf record -k says when): read it soon, since a later process given the same PID rewrites it",
    )
    .option(
      "--json",
      "print the report as JSON: every file with its build ID or why it has none, every process, every unresolved count",
    )
    .action((input: string, options: PprofOptions) => runPprof(input, options, context));
  withHelpSections(command, {
    examples: [
      ["buildid-cache pprof perf.data -o cpu.pb.gz", "then: go tool pprof -top cpu.pb.gz"],
      ["perf record -g -o - -- ./app | buildid-cache pprof - -o cpu.pb.gz", "convert as the recording is made"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
