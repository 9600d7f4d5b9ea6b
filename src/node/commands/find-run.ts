/**
 * What `find` runs once its line is read (by commander, or by hand in ./data-commands.ts): it loads
 * neither commander nor, unless the line asks for them, the local index (SQLite, the archive readers)
 * and the progress bar, so a plain `find` starts on the client alone.
 *
 * @packageDocumentation
 */
import type cliProgress from "cli-progress";
import type { BuildIdIndex } from "../debuginfod/build-id-index.js";
import {
  buildIdOf,
  type ClientArtifact,
  checkFindArguments,
  type FindOptions,
  findArtifact,
} from "../debuginfod/client.js";
import { type CommandContext, type CommandOutput, jsonText, UsageError } from "./shared.js";

/** Downloads smaller than this get no bar. */
const BAR_FROM = 1024 * 1024;
/** Most progress lines a second, as `debuginfod-find -v` prints them. */
const LINE_EVERY_MS = 200;

/** `find`'s options, as commander reads them. */
export interface FindCommandOptions {
  root: string[];
  index?: string;
  timeout?: number;
  verbose: number;
  json?: boolean;
  progress: boolean;
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
 * the URL up to `buildid/`); else a bar on a terminal for downloads over 1 MiB, unless `--no-progress`
 * (cli-progress is loaded only then). `done` ends the line or the bar.
 */
async function progressOf(
  verbose: number,
  bar: boolean,
  output: CommandOutput,
): Promise<{ onProgress?: Progress; done(): void }> {
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
  const { SingleBar, Presets } = (await import("cli-progress")).default;
  let shown: cliProgress.SingleBar | undefined;
  return {
    onProgress(received, total) {
      if (total === undefined || total < BAR_FROM) return;
      if (!shown) {
        shown = new SingleBar(
          { stream: process.stderr, format: "downloading [{bar}] {value}/{total} bytes", clearOnComplete: true },
          Presets.shades_classic,
        );
        shown.start(total, 0);
      }
      shown.update(received);
    },
    done: () => shown?.stop(),
  };
}

/** Runs `find ARTIFACT ID|FILE [NAME]` with `options`, writing to `context`'s output. */
export async function runFind(
  artifact: ClientArtifact,
  argument: string,
  name: string | undefined,
  options: FindCommandOptions,
  { output }: CommandContext,
): Promise<void> {
  const named = name === undefined ? {} : artifact === "source" ? { file: name } : { section: name };
  const hex = /^[0-9a-fA-F]+$/.test(argument);
  try {
    checkFindArguments(artifact, hex ? argument : "00", named); // a file's build ID is read below
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const buildId = hex ? argument : await buildIdOf(argument);
  let index: BuildIdIndex | undefined;
  if (options.root.length > 0 || options.index) {
    const { openIndex, reportScan, scanProgress } = await import("./local-index.js");
    index = await openIndex({ roots: options.root, file: options.index, passive: options.root.length === 0 });
    if (options.root.length > 0) {
      const shown = scanProgress(output, options.progress);
      try {
        reportScan(await index.scan({ onProgress: shown.update }), output);
      } finally {
        shown.done();
      }
    }
  }
  const progress = await progressOf(options.verbose, options.progress, output);
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
}
