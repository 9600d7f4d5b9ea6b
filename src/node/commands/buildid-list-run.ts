/**
 * What `buildid-list` does once its command line is read (by commander or by ./data-commands.ts):
 * perf buildid-list's lines for a recording, or an ELF file's build ID. Nothing here loads commander.
 *
 * @packageDocumentation
 */
import { type BuildIdListLine, listBuildIds } from "../../convert/buildid-list.js";
import { provideZstdEngine } from "../../perf/splitter.js";
import { openPerfChunks, openPerfInput } from "../perf-input.js";
import { readRegularFileSync } from "../safe-open.js";
import { nativeZstdEngine } from "../zstd-native.js";
import { type CommandContext, jsonText, STANDARD_STREAM } from "./shared.js";

/** `buildid-list`'s options, as commander gives them. */
export interface BuildIdListOptions {
  /** The recording or ELF file; `-` is standard input. */
  input: string;
  /** Only the dsos a sample fell in (`-H`). */
  withHits?: boolean;
  /** JSON instead of perf's lines. */
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

/** Lists the build IDs of `options.input` to `context`'s output. */
export async function runBuildIdList(options: BuildIdListOptions, context: CommandContext): Promise<void> {
  const { output } = context;
  if (isElf(options.input)) {
    const { readBuildIdFromFile } = await import("../elf-file.js");
    const { buildId } = await readBuildIdFromFile(options.input);
    output.out(options.json ? jsonText([{ buildId, name: options.input }], String) : `${buildId}\n`);
    return;
  }
  // Every way in (launcher, program, commander): Node's own zstd where it has one.
  provideZstdEngine(nativeZstdEngine);
  // Hits need every record; without them a file's build-ID table alone may do, which a Blob reads first.
  const input = await (options.withHits ? openPerfChunks : openPerfInput)(options.input);
  try {
    const listing = await listBuildIds(input.source, { withHits: options.withHits === true });
    output.out(options.json ? jsonText(listing.lines, String) : buildIdListText(listing.lines));
  } finally {
    await input.close();
  }
}
