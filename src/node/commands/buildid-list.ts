/**
 * `buildid-list -i FILE [--with-hits]`: the lines `perf buildid-list -i` prints for a recording, or
 * for an ELF file its build ID, as perf does.
 *
 * @packageDocumentation
 */
import type { Command } from "commander";
import { type BuildIdListLine, listBuildIds } from "../../convert/buildid-list.js";
import { openPerfInput } from "../perf-input.js";
import { readRegularFileSync } from "../safe-open.js";
import { withHelpSections } from "./help.js";
import { COMMON_EXITS, type CommandContext, jsonText, STANDARD_STREAM } from "./shared.js";

interface BuildIdListOptions {
  input: string;
  withHits?: boolean;
  json?: boolean;
}

function isElf(path: string): boolean {
  if (path === STANDARD_STREAM) return false;
  const { bytes } = readRegularFileSync(path, { range: { position: 0n, length: 4 } });
  return bytes.length === 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** `perf buildid-list`'s line: the build ID padded to 40 columns, a space, the name. */
export function buildIdListText(lines: readonly BuildIdListLine[]): string {
  return lines.map((l) => `${l.buildId.padEnd(40)} ${l.name}\n`).join("");
}

/** Adds `buildid-list` to `program` and returns it. */
export function registerBuildIdList(program: Command, context: CommandContext): Command {
  const { output } = context;
  const command = program
    .command("buildid-list")
    .summary("list the build IDs of a perf recording, as perf buildid-list does")
    .description(
      "list the build IDs a perf recording names, one '<build id> <path>' line per dso in the order and with the padding perf buildid-list -i prints them ([kernel.kallsyms] and [vdso] included; an ID perf does not know is left blank); given an ELF file, print its build ID",
    )
    .option("-i, --input <file>", "the recording (file or pipe mode, -z too); - reads standard input", "perf.data")
    .option(
      "-H, --with-hits",
      "only the dsos a sample's IP fell in (perf lists only those anyway for a recording without a build-ID table: pipe mode, --buildid-mmap)",
    )
    .option("--json", "print JSON: one object per line, with its build ID, name and whether it had hits")
    .action(async (options: BuildIdListOptions) => {
      if (isElf(options.input)) {
        const { readBuildIdFromFile } = await import("../elf-file.js");
        const { buildId } = await readBuildIdFromFile(options.input);
        output.out(options.json ? jsonText([{ buildId, name: options.input }], String) : `${buildId}\n`);
        return;
      }
      const input = await openPerfInput(options.input);
      try {
        const listing = await listBuildIds(input.source, { withHits: options.withHits === true });
        output.out(options.json ? jsonText(listing.lines, String) : buildIdListText(listing.lines));
      } finally {
        await input.close();
      }
    });
  withHelpSections(command, {
    examples: [
      ["buildid-cache buildid-list -i perf.data", "every dso of the recording with its build ID"],
      ["buildid-cache buildid-list -H -i perf.data", "only the dsos samples fell in"],
      ["perf record -o - -- ./app | buildid-cache buildid-list -i -", "a recording piped in as it is made"],
    ],
    exitStatuses: COMMON_EXITS,
  });
  return program;
}
