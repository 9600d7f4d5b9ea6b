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
import { convertPerfData } from "../../convert/convert.js";
import { PerfDataStream } from "../../perf/reader.js";
import { openPerfInput } from "../perf-input.js";
import { gzipProfile, writeProfileFile } from "../pprof-file.js";
import { recordedFileReader, recordingStartMs } from "../recorded-files.js";
import { conversionReport } from "./conversion-report.js";
import { withHelpSections } from "./help.js";
import { COMMON_EXITS, type CommandContext, jsonText, STANDARD_STREAM } from "./shared.js";
import { refuseBinaryToTerminal, writeStandardOutput } from "./standard-streams.js";

interface PprofOptions {
  output: string;
  json?: boolean;
  readFiles: boolean;
  trustPaths?: boolean;
}

/** Writes an uncompressed profile to `path` (`-`: gzip-compressed to standard output). */
export async function writeProfileTo(path: string, profile: Uint8Array): Promise<void> {
  if (path === STANDARD_STREAM) await writeStandardOutput(await gzipProfile(profile));
  else await writeProfileFile(path, profile);
}

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
      "--json",
      "print the report as JSON: every file with its build ID or why it has none, every process, every unresolved count",
    )
    .action(async (input: string, options: PprofOptions) => {
      refuseBinaryToTerminal(options.output, "a pprof profile");
      const print = options.output === STANDARD_STREAM ? context.output.err : context.output.out;
      const opened = await openPerfInput(input);
      try {
        // The resolver (the WebAssembly core) is loaded and started only if the recording lacks a build ID.
        const resolver = async () => {
          await import("../../default-core.js");
          return (await import("../resolver/resolver.js")).BuildIdResolver.create();
        };
        const stream = new PerfDataStream(opened.source);
        const recordedSince = () => recordingStartMs(stream.session?.clock);
        const { profile, summary } = await convertPerfData(stream, {
          ...(options.readFiles
            ? { readBuildId: recordedFileReader(resolver, { recordedSince, trustPaths: options.trustPaths === true }) }
            : {}),
        });
        await writeProfileTo(options.output, profile);
        const where = options.output === STANDARD_STREAM ? "standard output" : options.output;
        print(options.json ? jsonText(summary, String) : conversionReport(where, summary));
      } finally {
        await opened.close();
      }
    });
  withHelpSections(command, {
    examples: [
      ["buildid-cache pprof perf.data -o cpu.pb.gz", "then: go tool pprof -top cpu.pb.gz"],
      ["perf record -g -o - -- ./app | buildid-cache pprof - -o cpu.pb.gz", "convert as the recording is made"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
