/**
 * The build-ID index `serve` and `find` open over local roots, and the line a scan reports.
 *
 * @packageDocumentation
 */
import { BuildIdIndex, type ScanStats } from "../debuginfod/build-id-index.js";
import type { CommandOutput } from "./shared.js";

/**
 * Opens the index over `roots` (loaded from `file` when given), scans it when `scan` is set and
 * saves it back to `file`, reporting the scan on `output`.
 */
export async function openIndex(
  roots: string[],
  file: string | undefined,
  scan: boolean,
  progress: boolean,
  output: CommandOutput,
): Promise<BuildIdIndex> {
  const options = roots.length ? { roots } : {};
  const index = file ? await BuildIdIndex.load(file, options) : await BuildIdIndex.create(options);
  if (scan) {
    reportScan(await index.scan({ progress }), output);
    if (file) await index.save(file);
  }
  return index;
}

/** Writes one line about scan `s` to `output`'s error stream. */
export function reportScan(s: ScanStats, output: CommandOutput): void {
  output.err(
    `indexed ${s.buildIds} build IDs (${s.executables} executables, ${s.debuginfo} debuginfo) in ${s.files} files ` +
      `under ${s.roots} roots: ${s.reads} read, ${s.reused} unchanged, ${s.removed} gone, ${s.unreadable} unreadable, ${Math.round(s.durationMs)} ms\n`,
  );
}
