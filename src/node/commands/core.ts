/**
 * `core FILE`: the build IDs of the files a core dump maps, from the core alone.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { type CoreModule, readCoreBuildIds } from "../core-file.js";
import { type CommandContext, hexJson } from "./shared.js";

/** One line per module, as `eu-unstrip -n` prints them: START+SIZE, the ID or "-", the path, and why not when there is no ID. */
function moduleLine(m: CoreModule): string {
  const why = m.status === "found" ? "" : `  (${m.status}${m.problem === undefined ? "" : `: ${m.problem}`})`;
  return `0x${m.start.toString(16)}+0x${(m.end - m.start).toString(16)} ${m.buildId ?? "-"} ${m.path}${why}\n`;
}

/** Adds `core` to `program` and returns it. */
export function registerCore(program: Command, context: CommandContext): Command {
  const { output } = context;
  program
    .command("core")
    .description("list the files a core dump maps, with build IDs read from the core alone")
    .argument("<file>", "core file (ELF64 little-endian)")
    .option("--json", "print JSON")
    .action(async (file: string, options: { json?: boolean }) => {
      const report = await readCoreBuildIds(file);
      if (options.json) return output.out(hexJson(report));
      for (const m of report.modules) output.out(moduleLine(m));
      const found = report.modules.filter((m) => m.status === "found").length;
      output.out(`${report.modules.length} files: ${found} with build IDs, ${report.notInCore} not in core\n`);
    });
  return program;
}
