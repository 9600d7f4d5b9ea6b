/**
 * The build-ID index `serve` and `find` open over local roots, its progress on standard error, and
 * the line a scan reports.
 *
 * @packageDocumentation
 */
import { mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import cliProgress from "cli-progress";
import { BuildIdIndex, type Scanners, type ScanProgress, type ScanStats } from "../debuginfod/build-id-index.js";
import { type CommandOutput, UsageError } from "./shared.js";

/** Seconds between progress lines when standard error is not a terminal. */
export const PROGRESS_LINE_SECONDS = 5;

/** What {@link openIndex} opens. */
export interface IndexChoice {
  /** Roots given on the command line (none: the default roots, those that exist). */
  roots: readonly string[];
  /** `--index`: the database, as the user gave it. */
  file?: string;
  /** `--passive`: read the database only; another process scans it. */
  passive?: boolean;
  /** `--include` patterns. */
  include?: readonly RegExp[];
  /** `--exclude` patterns. */
  exclude?: readonly RegExp[];
  /** `--scan-batch`: files written per transaction. */
  writeBatch?: number;
  /** `-F`, `-U`, `-R`: the kinds of file a scan reads (default all). */
  scanners?: Scanners;
  /** `--disable-source-scan` when false. */
  sources?: boolean;
  /** `-c`: most scan worker threads. */
  scanThreads?: number;
}

/**
 * Checks that each root given is a directory, naming the first that is not.
 * @throws {@link UsageError} (exit 2) for a root that does not exist or is no directory.
 */
export function checkRoots(roots: readonly string[]): void {
  for (const root of roots) {
    let directory: boolean;
    try {
      directory = statSync(root).isDirectory();
    } catch (error) {
      throw new UsageError(`root ${JSON.stringify(root)} cannot be scanned: ${(error as NodeJS.ErrnoException).code}`);
    }
    if (!directory) throw new UsageError(`root ${JSON.stringify(root)} is not a directory`);
  }
}

/**
 * Opens the index of `choice` without scanning it: in memory, or its database (whose missing
 * parent folders are made, mode 0700, so a fresh home can hold it), answering at once from what
 * the database holds.
 * @throws {@link UsageError} for a root that is no directory, or roots with `--passive`; errors
 *   naming the path the user gave for a database that cannot be made or opened.
 */
export async function openIndex(choice: IndexChoice): Promise<BuildIdIndex> {
  const { file } = choice;
  if (choice.passive) {
    if (file === undefined) throw new UsageError("--passive needs --index: the database another serve scans");
    if (choice.roots.length > 0)
      throw new UsageError("--passive takes no roots: a replica serves the roots of the database it reads");
  }
  checkRoots(choice.roots);
  const options = {
    ...(choice.roots.length ? { roots: choice.roots } : {}),
    ...(choice.include ? { include: choice.include } : {}),
    ...(choice.exclude ? { exclude: choice.exclude } : {}),
    ...(choice.writeBatch ? { writeBatch: choice.writeBatch } : {}),
    ...(choice.scanners ? { scanners: choice.scanners } : {}),
    ...(choice.sources === undefined ? {} : { sources: choice.sources }),
    ...(choice.scanThreads === undefined ? {} : { scanThreads: choice.scanThreads }),
    readonly: choice.passive ?? false,
  };
  if (file === undefined) return BuildIdIndex.create(options);
  if (!choice.passive) {
    try {
      mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new Error(`--index ${file}: cannot make its folder: ${(error as Error).message}`);
    }
  }
  return BuildIdIndex.open(file, options);
}

/**
 * What shows a scan's progress on `output`'s error stream: a bar when it is a terminal
 * (`isTerminal`), else a line every {@link PROGRESS_LINE_SECONDS} with the counts; nothing when
 * `enabled` is false. Call `done()` when the scan ends.
 */
export function scanProgress(
  output: CommandOutput,
  enabled: boolean,
  isTerminal = process.stderr.isTTY === true,
): { update(p: Readonly<ScanProgress>): void; done(): void } {
  if (!enabled) return { update() {}, done() {} };
  if (!isTerminal) {
    let next = PROGRESS_LINE_SECONDS * 1000;
    return {
      update(p) {
        if (p.elapsedMs < next) return;
        next = p.elapsedMs + PROGRESS_LINE_SECONDS * 1000;
        const where =
          p.phase === "walk"
            ? `walking: ${p.files} files found in ${p.directories} directories`
            : `indexing: ${p.handled} of ${p.files} files done, ${p.reads} read`;
        output.err(`${where}, ${Math.round(p.elapsedMs / 1000)} s\n`);
      },
      done() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "indexing [{bar}] {value}/{total} files",
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      if (p.phase !== "read") return;
      if (!started) bar.start(p.files, 0);
      started = true;
      bar.update(p.handled);
    },
    done() {
      if (started) bar.stop();
      started = false;
    },
  };
}

/** Writes one line about scan `s` to `output`'s error stream. */
export function reportScan(s: ScanStats, output: CommandOutput): void {
  output.err(
    `indexed ${s.buildIds} build IDs (${s.executables} executables, ${s.debuginfo} debuginfo) in ${s.files} files ` +
      `under ${s.roots} roots: ${s.reads} read, ${s.reused} unchanged, ${s.removed} gone, ${s.unreadable} unreadable` +
      `${s.excluded ? `, ${s.excluded} excluded` : ""}, ${Math.round(s.durationMs)} ms\n`,
  );
}
