/**
 * `id FILE...`: each ELF file's GNU build ID, one `<build id> <path>` line per file, as
 * `perf buildid-list -i` and `eu-readelf -n` give it.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { type BuildIdInfo, ElfError, readBuildId } from "../../elf.js";
import { readBuildIdFromFile } from "../elf-file.js";
import { DEFAULT_READ_LIMIT } from "../safe-open.js";
import { withHelpSections } from "./help.js";
import { COMMON_EXITS, type CommandContext, EXIT, errorText, jsonText, STANDARD_STREAM, UsageError } from "./shared.js";
import { readStandardInput } from "./standard-streams.js";

/** The most bytes `id -` reads from standard input (256 MiB): a pipe cannot be read at the offsets the headers give, so it is read whole. */
export const ID_STDIN_LIMIT = DEFAULT_READ_LIMIT;

async function buildIdOf(file: string): Promise<BuildIdInfo> {
  if (file !== STANDARD_STREAM) return readBuildIdFromFile(file);
  const bytes = await readStandardInput("an ELF file", ID_STDIN_LIMIT);
  try {
    return readBuildId(bytes);
  } catch (error) {
    throw error instanceof ElfError ? new ElfError(error.code, `standard input: ${error.message}`) : error;
  }
}

/**
 * Adds `id` to `program` and returns it. A file that cannot be read, is not ELF or has no build ID
 * is named on the context's error output and sets exit status 1; the others are still printed.
 */
export function registerId(program: Command, context: CommandContext): Command {
  const { output } = context;
  const command = program
    .command("id")
    .summary("print the build ID of each ELF file")
    .description("print the GNU build ID of each ELF file, as perf buildid-list -i and eu-readelf -n do")
    .argument("<file...>", `ELF files; - reads one from standard input, up to ${ID_STDIN_LIMIT / 2 ** 20} MiB`)
    .option(
      "--json",
      "print JSON: one object per file with a build ID (its ELF class, type, machine, where the note is)",
    )
    .action(async (files: string[], options: { json?: boolean }) => {
      const found = [];
      for (const path of files) {
        try {
          const { bytes: _, ...info } = await buildIdOf(path);
          found.push({ path, ...info });
        } catch (error) {
          if (error instanceof UsageError) throw error;
          output.err(`buildid-cache: ${errorText(error)}\n`);
          process.exitCode = EXIT.failure;
        }
      }
      if (options.json) output.out(jsonText(found, String));
      else for (const f of found) output.out(`${f.buildId} ${f.path}\n`);
    });
  withHelpSections(command, {
    examples: [
      ["buildid-cache id /usr/bin/ls /usr/lib/x86_64-linux-gnu/libc.so.6", "one line each: BUILD-ID PATH"],
      ["curl -s https://host/app | buildid-cache id -", "the build ID of a file read from a pipe"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
