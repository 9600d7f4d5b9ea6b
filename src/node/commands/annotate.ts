/**
 * `annotate INPUT -o OUTPUT`: fill the empty `Mapping.build_id` fields of a pprof profile. Either
 * may be `-`: the profile is then read from standard input or written to standard output.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import {
  annotateProfileBytes,
  DEFAULT_PROFILE_LIMIT,
  decodeProfile,
  gzipProfile,
  readProfileFile,
  writeProfileFile,
} from "../pprof-file.js";
import { CACHE_EXITS, type CacheOptions, openResolver, withCacheOptions } from "./cache-options.js";
import { withHelpSections } from "./help.js";
import { requireProcess } from "./live-process.js";
import { type CommandContext, integerOption, jsonText, STANDARD_STREAM } from "./shared.js";
import { readStandardInput, refuseBinaryToTerminal, writeStandardOutput } from "./standard-streams.js";

interface AnnotateOptions {
  output: string;
  pid?: number;
  maxProfileBytes: number;
  json?: boolean;
}

async function readProfile(input: string, maxBytes: number): Promise<Uint8Array> {
  if (input !== STANDARD_STREAM) return readProfileFile(input, { maxBytes });
  return decodeProfile(await readStandardInput("a pprof profile", maxBytes), "standard input", { maxBytes });
}

/** The warning for build IDs read from files by path: they may not be the profiled files. */
function byPathWarning(count: number, pid: number | undefined): string {
  const ids = count === 1 ? "1 build ID was" : `${count} build IDs were`;
  const fix =
    pid === undefined
      ? "give --pid PID of the profiled process, while it runs, to read the files it maps"
      : `process ${pid} did not map those files where the profile says`;
  return `buildid-cache: warning: ${ids} read from the files at the profile's paths as they are now, which may not be the files the profile was taken from (${fix})\n`;
}

/** Adds `annotate` to `program` and returns it. */
export function registerAnnotate(program: Command, context: CommandContext): Command {
  const command = withCacheOptions(
    program
      .command("annotate")
      .summary("fill the empty build IDs of a pprof profile")
      .description("fill the empty Mapping.build_id fields of a pprof profile, by file path or through a live process")
      .argument("<input>", "pprof file, gzip-compressed or not; - reads standard input")
      .requiredOption(
        "-o, --output <file>",
        "where to write the profile: gzip-compressed when it ends in .gz; - writes it gzip-compressed to standard output (not to a terminal), and the report to standard error",
      )
      .option(
        "--pid <pid>",
        "the live process the profile came from: read its files by device and inode",
        integerOption("--pid"),
      )
      .option(
        "--max-profile-bytes <n>",
        "the most bytes to read or decompress the profile to",
        integerOption("--max-profile-bytes"),
        DEFAULT_PROFILE_LIMIT,
      )
      .option("--json", "print the report as JSON (ids as decimal strings, exact past 2^53)"),
  ).action(async (input: string, options: CacheOptions & AnnotateOptions) => {
    const toStdout = options.output === STANDARD_STREAM;
    refuseBinaryToTerminal(options.output, "a pprof profile");
    if (options.pid !== undefined) await requireProcess(options.proc, options.pid);
    const resolver = await openResolver(options, context);
    const print = toStdout ? context.output.err : context.output.out;
    try {
      const lookup = { maxBytes: options.maxProfileBytes, ...(options.pid === undefined ? {} : { pid: options.pid }) };
      const profile = await readProfile(input, options.maxProfileBytes);
      const name = input === STANDARD_STREAM ? "standard input" : input;
      const { bytes, ...report } = await annotateProfileBytes(profile, name, resolver, lookup);
      if (toStdout) await writeStandardOutput(await gzipProfile(bytes));
      else await writeProfileFile(options.output, bytes);
      if (options.json) {
        print(jsonText(report, String));
        return;
      }
      const { filled, skipped, alreadySet } = report;
      const where = toStdout ? "standard output" : options.output;
      print(`${where}: ${filled.length} build IDs filled, ${skipped.length} skipped, ${alreadySet} already set\n`);
      if (report.filledByPath.length > 0) print(byPathWarning(report.filledByPath.length, options.pid));
      for (const m of filled) print(`  filled   ${m.buildId}  ${m.filename}\n`);
      for (const m of skipped) print(`  skipped  ${m.filename || `mapping ${m.id}`}: ${m.reason}\n`);
    } finally {
      await context.finish();
    }
  });
  withHelpSections(command, {
    examples: [
      [
        "buildid-cache annotate cpu.pb.gz -o cpu.ids.pb.gz",
        "fill the build IDs from the files the mappings name, as they are now (a warning says so)",
      ],
      [
        "buildid-cache annotate --pid 4242 cpu.pb.gz -o cpu.ids.pb.gz",
        "through process 4242, which the profile came from: its files by device and inode, deleted ones included",
      ],
      ["buildid-cache annotate - -o - < cpu.pb.gz > cpu.ids.pb.gz", "as a filter, standard input to standard output"],
    ],
    exitStatuses: CACHE_EXITS,
  });
  return program;
}
