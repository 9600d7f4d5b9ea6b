/**
 * What `pprof` and `record` print after converting: samples and where they went, one line per file
 * with its build ID (or why it has none), the processes, and what could not be resolved.
 *
 * @packageDocumentation
 */
import type { ConversionSummary } from "../../convert/convert.js";

// en-US grouping by hand: toLocaleString loads ICU's number data, about 20 ms of a conversion's start.
const count = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** The summary as text, for `where` (the profile's path or "standard output"). */
export function conversionReport(where: string, s: ConversionSummary, maxFiles = 20): string {
  const lines: string[] = [];
  const pct = (n: number) => (s.samples === 0 ? "0" : ((100 * n) / s.samples).toFixed(1));
  lines.push(
    `${where}: ${count(s.samples)} samples of ${s.event || "no event"} from ${s.processes.length} processes, ${count(s.samplesWithBuildId)} (${pct(s.samplesWithBuildId)}%) in files with a build ID`,
  );
  if (s.files.length > 0) {
    lines.push(`  ${"build id".padEnd(40)}  ${"samples".padStart(9)}  file`);
    for (const f of s.files.slice(0, maxFiles))
      lines.push(
        `  ${(f.buildId ?? "(none)").padEnd(40)}  ${count(f.samples).padStart(9)}  ${f.path}${f.buildId === undefined ? `: ${f.reason}` : ""}`,
      );
    if (s.files.length > maxFiles) lines.push(`  ... and ${s.files.length - maxFiles} more files (--json lists all)`);
  }
  const unresolved = Object.entries(s.unresolved).filter(([, n]) => (n ?? 0) > 0);
  if (unresolved.length > 0)
    lines.push(`  samples whose IP is in no file: ${unresolved.map(([why, n]) => `${why} ${count(n!)}`).join(", ")}`);
  if (s.lost.records > 0)
    lines.push(
      `  the kernel lost ${count(s.lost.events)} records (${s.lost.records} PERF_RECORD_LOST): frames in mappings older than a loss are left unresolved (lost-events); record with a larger buffer (perf -m) or a lower -F`,
    );
  if (s.events.refused > 0) lines.push(`  ${s.events.refused} events refused: ${s.events.firstRefusal}`);
  return `${lines.join("\n")}\n`;
}
