/**
 * `core FILE`: the build IDs of the files a core dump maps, from the core alone.
 *
 * @packageDocumentation
 */
import { fstatSync } from "node:fs";
import type { Command } from "commander";
import { type CoreModule, readCoreBuildIds } from "../core-file.js";
import { fileKind } from "../safe-open.js";
import { withHelpSections } from "./help.js";
import { COMMON_EXITS, type CommandContext, hexJson, STANDARD_STREAM, UsageError } from "./shared.js";

/** One line per module, as `eu-unstrip -n` prints them: START+SIZE, the ID or "-", the path, and why not when there is no ID. */
function moduleLine(m: CoreModule): string {
  const why = m.status === "found" ? "" : `  (${m.status}${m.problem === undefined ? "" : `: ${m.problem}`})`;
  return `0x${m.start.toString(16)}+0x${(m.end - m.start).toString(16)} ${m.buildId ?? "-"} ${m.path}${why}\n`;
}

// A core is read where its headers point, so `-` must be a file standard input was redirected from.
async function readCore(file: string) {
  if (file !== STANDARD_STREAM) return readCoreBuildIds(file);
  const stdin = fstatSync(0);
  if (!stdin.isFile()) {
    throw new UsageError(
      `core reads - only when standard input is a file (< core), not a ${fileKind(stdin)}: a core is read at the offsets its headers give`,
    );
  }
  return readCoreBuildIds("/dev/stdin");
}

/** Adds `core` to `program` and returns it. */
export function registerCore(program: Command, context: CommandContext): Command {
  const { output } = context;
  const command = program
    .command("core")
    .summary("list the build IDs of the files a core dump maps")
    .description("list the files a core dump maps, with build IDs read from the core alone, as eu-unstrip -n does")
    .argument("<file>", "core file (ELF64 little-endian); - reads standard input when it is a file (< core)")
    .option("--json", "print JSON")
    .action(async (file: string, options: { json?: boolean }) => {
      const report = await readCore(file);
      if (options.json) return output.out(hexJson(report));
      for (const m of report.modules) output.out(moduleLine(m));
      const found = report.modules.filter((m) => m.status === "found").length;
      output.out(`${report.modules.length} files: ${found} with build IDs, ${report.notInCore} not in core\n`);
    });
  withHelpSections(command, {
    examples: [
      ["buildid-cache core core.4242", "START+SIZE BUILD-ID PATH for each mapped file, then a count"],
      ["buildid-cache core --json - < core.4242", "the same as JSON, the core on standard input"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
