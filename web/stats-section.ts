// Section 4: the counters of the file cache and of the last benchmark run's cache.
import { type BuildIdCacheStats, formatBytes } from "../src/index.js";
import { cell, element } from "./dom.js";
import type { FileStore } from "./file-store.js";

const ROWS: [string, (stats: BuildIdCacheStats) => string][] = [
  ["Entries", (s) => `${s.size.toLocaleString("en")} of ${s.capacity.toLocaleString("en")}`],
  ["Inserts", (s) => s.inserts.toLocaleString("en")],
  ["Updates", (s) => s.updates.toLocaleString("en")],
  ["Hits", (s) => s.hits.toLocaleString("en")],
  ["Misses", (s) => s.misses.toLocaleString("en")],
  ["Removals", (s) => s.removals.toLocaleString("en")],
  ["Evictions", (s) => s.evictions.toLocaleString("en")],
  ["Mean probe length", (s) => s.probeMean.toFixed(3)],
  ["Longest probe", (s) => s.probeMax.toLocaleString("en")],
  ["Index slots", (s) => s.slots.toLocaleString("en")],
  ["Memory", (s) => formatBytes(s.memoryBytes)],
];

/** Wires section 4; returns the call that shows the counters again, with the benchmark's when given. */
export function mountStatsSection(files: FileStore): (bench?: BuildIdCacheStats) => void {
  let lastBench: BuildIdCacheStats | undefined;
  const show = (bench?: BuildIdCacheStats) => {
    lastBench = bench ?? lastBench;
    const fileStats = files.cache.stats();
    const body = element<HTMLTableElement>("#stats-table").tBodies[0] as HTMLTableSectionElement;
    body.replaceChildren();
    for (const [label, format] of ROWS) {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      row.append(th);
      cell(row, format(fileStats), "num");
      cell(row, lastBench ? format(lastBench) : "–", "num");
    }
  };
  show();
  return show;
}
