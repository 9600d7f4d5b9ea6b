/**
 * `find executable|debuginfo|section|source ID|FILE [NAME]`: a build ID's file from the local index,
 * the cache, then `DEBUGINFOD_URLS`, with `debuginfod-find`'s arguments, verbosity and progress.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import type { ClientArtifact } from "../debuginfod/client.js";
import { type FindCommandOptions, runFind } from "./find-run.js";
import { withHelpSections } from "./help.js";
import { COMMON_EXITS, type CommandContext, integerOption } from "./shared.js";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function increase(_value: string, previous: number): number {
  return previous + 1;
}

/** Adds `find` to `program` and returns it. */
export function registerFind(program: Command, context: CommandContext): Command {
  const command = program
    .command("find")
    .summary("print the path of a build ID's executable, debuginfo, section or source file")
    .description(
      "print the path of a build ID's executable, debuginfo, section or source file: local index, then the cache, then every DEBUGINFOD_URLS server at once",
    )
    .argument("<artifact>", "executable, debuginfo, section or source")
    .argument("<buildid>", "the build ID in hex, or an ELF file whose build ID is meant")
    .argument("[name]", "the section name (section), or the source file's absolute path (source)")
    .option("--root <dir>", "index this directory first (repeatable)", collect, [])
    .option("--index <file>", "ask the index database in this file (serve --index keeps one) first")
    .option(
      "--timeout <seconds>",
      "give up on a server after this long without progress (default: DEBUGINFOD_TIMEOUT, else 90)",
      integerOption("--timeout", 1, 86_400),
    )
    .option(
      "-v, --verbose",
      "progress lines, then the server's X-DEBUGINFOD headers and the URL; twice, every step as DEBUGINFOD_VERBOSE",
      increase,
      0,
    )
    .option("--json", "print JSON: path, source, size, and for a download the URL and X-DEBUGINFOD headers")
    .option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal)")
    .action((artifact: ClientArtifact, argument: string, name: string | undefined, options: FindCommandOptions) =>
      runFind(artifact, argument, name, options, context),
    );
  withHelpSections(command, {
    examples: [
      [
        "buildid-cache find debuginfo 15dfff3239aa7c3b16a71e6b2e3b6e4009dab998",
        "the path of that build ID's debuginfo, fetched if need be",
      ],
      ["buildid-cache find debuginfo /usr/bin/ls", "the same for the build ID of /usr/bin/ls"],
      ['buildid-cache find source "$ID" /build/src/main.c', "one source file its debuginfo names"],
      ['buildid-cache find executable "$ID" --root ./build', "looking in ./build first"],
    ],
    environment: [
      ["DEBUGINFOD_URLS", "the servers, space-separated, asked at once after the local index and the cache"],
      [
        "DEBUGINFOD_CACHE_PATH",
        "the cache (default: ~/.debuginfod_client_cache if it exists, else $XDG_CACHE_HOME/debuginfod_client, else ~/.cache/debuginfod_client)",
      ],
      ["XDG_CACHE_HOME, HOME", "where the default cache is"],
      ["DEBUGINFOD_TIMEOUT", "seconds without progress before a server is dropped (default 90)"],
      ["DEBUGINFOD_MAXTIME", "seconds for the whole query (default 1800)"],
      ["DEBUGINFOD_MAXSIZE", "largest download in bytes (default 4 GiB)"],
      ["DEBUGINFOD_RETRY_LIMIT", "times the servers that failed are asked again (default 2)"],
      ["DEBUGINFOD_HEADERS_FILE", "a file of extra request headers, one Name: value a line"],
      ["DEBUGINFOD_VERBOSE", "every step on standard error, as -vv"],
      ["DEBUGINFOD_PROGRESS", "a Downloading from URL a/b line on standard error"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
