/**
 * The command-line commands over perf's build-ID store and core files: `add`, `list` and `core`,
 * registered on the program's commander `Command` by {@link registerStoreCommands}.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { type CoreModule, readCoreBuildIds } from "./core-file.js";
import { addToPerfStore, listPerfStore } from "./perf-store.js";

/** Where the commands write: standard output and standard error unless a test gives others. */
export interface CommandOutput {
  /** Results. */
  out(text: string): void;
  /** Per-file problems, one line each. */
  err(text: string): void;
}

const STANDARD: CommandOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

const DIR_OPTION = ["--dir <dir>", "the store (default: $PERF_BUILDID_DIR, else ~/.debug)"] as const;

function json(value: unknown): string {
  return `${JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v), 2)}\n`;
}

/** One line per module, as `eu-unstrip -n` prints them: START+SIZE, the ID or "-", the path, and why not when there is no ID. */
function moduleLine(m: CoreModule): string {
  const why = m.status === "found" ? "" : `  (${m.status}${m.problem === undefined ? "" : `: ${m.problem}`})`;
  return `0x${m.start.toString(16)}+0x${(m.end - m.start).toString(16)} ${m.buildId ?? "-"} ${m.path}${why}\n`;
}

/**
 * Adds `add FILE...` (files into perf's store, as `perf buildid-cache --add`), `list` (the store's IDs
 * and paths, as `perf buildid-cache --list`) and `core FILE` (the build IDs of the files a core dump
 * maps, from the core alone) to `program`, and returns it. A file that `add` refuses is named on
 * standard error and sets a non-zero exit code; the others are still added.
 */
export function registerStoreCommands(program: Command, output: CommandOutput = STANDARD): Command {
  program
    .command("add")
    .description("add ELF files to perf's build-ID store, in perf's layout")
    .argument("<file...>", "ELF files with build IDs")
    .option(...DIR_OPTION)
    .option("--json", "print JSON")
    .action(async (files: string[], options: { dir?: string; json?: boolean }) => {
      const added = [];
      for (const file of files) {
        try {
          added.push(await addToPerfStore(file, { dir: options.dir }));
        } catch (error) {
          output.err(`buildid-cache: ${(error as Error).message}\n`);
          process.exitCode = 1;
        }
      }
      if (options.json) output.out(json(added));
      else for (const a of added) output.out(`${a.buildId} ${a.path}\n`);
    });

  program
    .command("list")
    .description("list the build IDs in perf's build-ID store, with the paths they were added from")
    .option(...DIR_OPTION)
    .option("--json", "print JSON")
    .action(async (options: { dir?: string; json?: boolean }) => {
      const entries = await listPerfStore(options.dir);
      if (options.json) output.out(json(entries));
      else for (const e of entries) output.out(`${e.buildId} ${e.path ?? "(not a perf link)"}\n`);
    });

  program
    .command("core")
    .description("list the files a core dump maps, with build IDs read from the core alone")
    .argument("<file>", "core file (ELF64 little-endian)")
    .option("--json", "print JSON")
    .action(async (file: string, options: { json?: boolean }) => {
      const report = await readCoreBuildIds(file);
      if (options.json) return output.out(json(report));
      for (const m of report.modules) output.out(moduleLine(m));
      const found = report.modules.filter((m) => m.status === "found").length;
      output.out(`${report.modules.length} files: ${found} with build IDs, ${report.notInCore} not in core\n`);
    });

  return program;
}
