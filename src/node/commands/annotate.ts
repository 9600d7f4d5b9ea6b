/**
 * `annotate INPUT -o OUTPUT`: fill the empty `Mapping.build_id` fields of a pprof profile.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { annotateProfileFile, DEFAULT_PROFILE_LIMIT } from "../pprof-file.js";
import { type CacheOptions, openResolver, withCacheOptions } from "./cache-options.js";
import { type CommandContext, integerOption, jsonText } from "./shared.js";

interface AnnotateOptions {
  output: string;
  pid?: number;
  maxProfileBytes: number;
  json?: boolean;
}

/** Adds `annotate` to `program` and returns it. */
export function registerAnnotate(program: Command, context: CommandContext): Command {
  const print = context.output.out;
  withCacheOptions(
    program
      .command("annotate")
      .description("fill the empty Mapping.build_id fields of a pprof profile")
      .argument("<input>", "pprof file, gzip-compressed or not")
      .requiredOption("-o, --output <file>", "where to write the profile (gzip-compressed when it ends in .gz)")
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
    const resolver = await openResolver(options, context);
    try {
      const lookup = { maxBytes: options.maxProfileBytes, ...(options.pid === undefined ? {} : { pid: options.pid }) };
      const report = await annotateProfileFile(input, options.output, resolver, lookup);
      if (options.json) {
        print(jsonText(report, String));
        return;
      }
      const { filled, skipped, alreadySet } = report;
      print(
        `${options.output}: ${filled.length} build IDs filled, ${skipped.length} skipped, ${alreadySet} already set\n`,
      );
      for (const m of filled) print(`  filled   ${m.buildId}  ${m.filename}\n`);
      for (const m of skipped) print(`  skipped  ${m.filename || `mapping ${m.id}`}: ${m.reason}\n`);
    } finally {
      await context.finish();
    }
  });
  return program;
}
