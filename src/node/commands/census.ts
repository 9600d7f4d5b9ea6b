/**
 * `census`, the default command: Viro's exercise on this machine.
 *
 * @packageDocumentation
 */
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { type CensusProgress, takeCensus } from "../census.js";
import { formatCensus } from "../census-report.js";
import { CACHE_EXITS, type CacheOptions, openResolver, withCacheOptions } from "./cache-options.js";
import { withHelpSections } from "./help.js";
import type { CommandContext } from "./shared.js";

function progressBar(enabled: boolean): { update(p: CensusProgress): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: "{phase} [{bar}] {value}/{total}", hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let phase: string | undefined;
  const names = { files: "reading mmapped files  ", mappings: "resolving exec mappings" };
  return {
    update(p) {
      if (p.phase !== phase) {
        if (phase !== undefined) bar.stop();
        phase = p.phase;
        bar.start(p.total, p.done, { phase: names[p.phase] });
      } else bar.update(p.done);
    },
    stop() {
      if (phase !== undefined) bar.stop();
    },
  };
}

/** Adds `census` to `program` and returns it; the CLI runs it when no command is named. */
export function registerCensus(program: Command, context: CommandContext): Command {
  const command = withCacheOptions(
    program
      .command("census")
      .summary("count files, inodes and mmapped ELF objects, price each design (the default)")
      .description(
        "count struct files and inodes against mmapped ELF objects on this machine, price each design of a build-ID cache, and resolve every mapped build ID into the cache (the default command)",
      )
      .option("--json", "print the census as JSON")
      .option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal or with --json)"),
  ).action(async (options: CacheOptions & { json?: boolean; progress: boolean }) => {
    const resolver = await openResolver(options, context);
    const bar = progressBar(options.progress && !options.json && process.stderr.isTTY === true);
    try {
      const census = await takeCensus({ procRoot: options.proc, resolver, onProgress: (p) => bar.update(p) });
      bar.stop();
      context.output.out(options.json ? `${JSON.stringify(census, null, 2)}\n` : formatCensus(census));
    } finally {
      bar.stop();
      await context.finish();
    }
  });
  withHelpSections(command, {
    examples: [
      ["buildid-cache", "the census of this machine, as a report"],
      ["buildid-cache census --json --no-progress", "the same as JSON"],
    ],
    exitStatuses: CACHE_EXITS,
  });
  return program;
}
