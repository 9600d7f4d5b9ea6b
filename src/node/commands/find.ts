/**
 * `find executable|debuginfo|section|source ID|FILE [NAME]`: a build ID's file from the local index,
 * the cache, then `DEBUGINFOD_URLS`, with `debuginfod-find`'s arguments, verbosity and progress.
 *
 * @packageDocumentation
 */
import cliProgress from "cli-progress";
import type { Command } from "commander";
import {
  buildIdOf,
  type ClientArtifact,
  checkFindArguments,
  type FindOptions,
  findArtifact,
} from "../debuginfod/client.js";
import { withHelpSections } from "./help.js";
import { openIndex, reportScan, scanProgress } from "./local-index.js";
import {
  COMMON_EXITS,
  type CommandContext,
  type CommandOutput,
  integerOption,
  jsonText,
  UsageError,
} from "./shared.js";

/** Downloads smaller than this get no bar. */
const BAR_FROM = 1024 * 1024;
/** Most progress lines a second, as `debuginfod-find -v` prints them. */
const LINE_EVERY_MS = 200;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function increase(_value: string, previous: number): number {
  return previous + 1;
}

type Progress = NonNullable<FindOptions["onProgress"]>;

// At most one call of `print` every LINE_EVERY_MS, the first at once.
function throttled(print: Progress): Progress {
  let last = Number.NEGATIVE_INFINITY;
  return (received, total, url) => {
    const now = performance.now();
    if (now - last < LINE_EVERY_MS) return;
    last = now;
    print(received, total, url);
  };
}

/**
 * How progress is shown: `-v`, `debuginfod-find -v`'s lines (`Progress 1024 / 4096`); else
 * `DEBUGINFOD_PROGRESS`, elfutils' default progress function (`\rDownloading from URL 1024/4096`,
 * the URL up to `buildid/`); else a bar on a terminal for downloads over 1 MiB, unless `--no-progress`.
 * `done` ends the line or the bar.
 */
function progressOf(verbose: number, bar: boolean, output: CommandOutput): { onProgress?: Progress; done(): void } {
  if (verbose > 0) {
    return { onProgress: throttled((a, b) => output.err(`Progress ${a} / ${b ?? 0}\n`)), done() {} };
  }
  if (process.env.DEBUGINFOD_PROGRESS !== undefined) {
    let printed = false;
    return {
      onProgress: throttled((a, b, url) => {
        const host = url.slice(0, Math.max(0, url.indexOf("buildid/")) || url.length);
        output.err(b === undefined ? `\rDownloading from ${host} ${a}` : `\rDownloading from ${host} ${a}/${b}`);
        printed = true;
      }),
      done() {
        if (printed) output.err("\n");
        printed = false;
      },
    };
  }
  if (!bar || !process.stderr.isTTY) return { done() {} };
  let shown: cliProgress.SingleBar | undefined;
  return {
    onProgress(received, total) {
      if (total === undefined || total < BAR_FROM) return;
      if (!shown) {
        shown = new cliProgress.SingleBar(
          { stream: process.stderr, format: "downloading [{bar}] {value}/{total} bytes", clearOnComplete: true },
          cliProgress.Presets.shades_classic,
        );
        shown.start(total, 0);
      }
      shown.update(received);
    },
    done: () => shown?.stop(),
  };
}

interface FindCommandOptions {
  root: string[];
  index?: string;
  timeout?: number;
  verbose: number;
  json?: boolean;
  progress: boolean;
}

/** Adds `find` to `program` and returns it. */
export function registerFind(program: Command, context: CommandContext): Command {
  const { output } = context;
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
    .action(
      async (artifact: ClientArtifact, argument: string, name: string | undefined, options: FindCommandOptions) => {
        const named = name === undefined ? {} : artifact === "source" ? { file: name } : { section: name };
        const hex = /^[0-9a-fA-F]+$/.test(argument);
        try {
          checkFindArguments(artifact, hex ? argument : "00", named); // a file's build ID is read below
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
        const buildId = hex ? argument : await buildIdOf(argument);
        const local = options.root.length || options.index;
        const index = local
          ? await openIndex({ roots: options.root, file: options.index, passive: options.root.length === 0 })
          : undefined;
        if (index && options.root.length > 0) {
          const shown = scanProgress(output, options.progress);
          try {
            reportScan(await index.scan({ onProgress: shown.update }), output);
          } finally {
            shown.done();
          }
        }
        const progress = progressOf(options.verbose, options.progress, output);
        const verbose = options.verbose > 1 || process.env.DEBUGINFOD_VERBOSE !== undefined;
        try {
          const found = await findArtifact(artifact, buildId, {
            ...named,
            ...(index ? { index } : {}),
            ...(options.timeout === undefined ? {} : { timeoutMs: options.timeout * 1000 }),
            ...(progress.onProgress ? { onProgress: progress.onProgress } : {}),
            ...(verbose ? { log: (line: string) => output.err(`${line}\n`) } : {}),
          });
          progress.done();
          if (options.verbose > 0 && found.url) {
            const headers = Object.entries(found.headers ?? {});
            if (headers.length) output.err(`Headers:\n${headers.map(([k, v]) => `${k}: ${v}\n`).join("")}`);
            output.err(`Downloaded from ${found.url}\n`);
          }
          output.out(
            options.json
              ? jsonText({ artifact, buildId: buildId.toLowerCase(), ...named, ...found }, String)
              : `${found.path}\n`,
          );
        } finally {
          progress.done();
          index?.dispose();
        }
      },
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
