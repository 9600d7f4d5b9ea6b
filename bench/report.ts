// Renders the results: aligned terminal tables, Markdown for the README, a self-contained SVG chart.
import type { CoreResults, Impl, MatrixRow, Op } from "./core.js";
import { LABELS } from "./peers.js";

/** One of the targets, with what was measured. */
export interface Target {
  name: string;
  goal: string;
  value: number | undefined;
  unit: string;
  higherIsBetter: boolean;
  threshold: number;
  /** Undefined when the figure was not measured in this run. */
  met: boolean | undefined;
}

const IMPL_ORDER: Impl[] = [
  "batch",
  "single",
  "wasm",
  "native",
  "map-bigint",
  "map-number",
  "lru-cache",
  "mnemonist",
  "lru.min",
];
const OP_TITLES: Record<Op, string> = {
  insert: "insert",
  hit: "lookup hit",
  miss: "lookup miss",
  delete: "delete",
  churn: "churn (evict)",
};
const OPS: Op[] = ["insert", "hit", "miss", "delete", "churn"];
const COLORS: Record<Impl, string> = {
  batch: "#1b7837",
  single: "#5aae61",
  wasm: "#a6dba0",
  native: "#762a83",
  "map-bigint": "#d6604d",
  "map-number": "#f4a582",
  "lru-cache": "#4393c3",
  mnemonist: "#92c5de",
  "lru.min": "#878787",
};

/** ns with three significant digits. */
function ns(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function times(value: number): string {
  return value >= 10 ? `${value.toFixed(0)}x` : `${value.toFixed(1)}x`;
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}

function table(head: string[], rows: string[][], align: ("l" | "r")[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === "l" ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** A Markdown code span, so `Map<bigint, ...>` is not read as an HTML tag. */
function code(s: string): string {
  return `\`${s}\``;
}

function markdownTable(head: string[], rows: string[][], align: ("l" | "r")[]): string {
  const bar = align.map((a) => (a === "l" ? "---" : "---:"));
  const cell = (s: string) => (s.includes("<") && !s.startsWith("`") ? code(s) : s);
  return [head.map(cell), bar, ...rows.map((r) => r.map(cell))].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

function cells(results: CoreResults): { dist: string; size: number }[] {
  const seen = new Map<string, { dist: string; size: number }>();
  for (const r of results.matrix) seen.set(`${r.size}/${r.dist}`, { dist: r.dist, size: r.size });
  return [...seen.values()];
}

// One block of the matrix: a row per implementation, "ns/op ratio" per operation, ratio = ns / batch ns.
function matrixBlock(rows: MatrixRow[], md = false): { head: string[]; body: string[][]; align: ("l" | "r")[] } {
  const at = (impl: Impl, op: Op) => rows.find((r) => r.impl === impl && r.op === op)?.ns;
  const body: string[][] = [];
  for (const impl of IMPL_ORDER) {
    if (!rows.some((r) => r.impl === impl)) continue;
    const row = [md ? code(LABELS[impl]) : LABELS[impl]];
    for (const op of OPS) {
      const value = at(impl, op);
      const base = at("batch", op);
      if (value === undefined) row.push("-");
      else if (impl === "batch" || base === undefined) row.push(ns(value));
      else row.push(`${ns(value)} ${md ? times(value / base) : times(value / base).padStart(4)}`);
    }
    body.push(row);
  }
  return { head: ["implementation", ...OPS.map((op) => OP_TITLES[op])], body, align: ["l", "r", "r", "r", "r", "r"] };
}

function zipfBlock(results: CoreResults): { head: string[]; body: string[][]; align: ("l" | "r")[] } {
  const impls = IMPL_ORDER.filter((i) => results.zipf.some((z) => z.impl === i));
  const groups = new Map<string, CoreResults["zipf"]>();
  for (const z of results.zipf)
    groups.set(`${z.keys}/${z.fraction}`, [...(groups.get(`${z.keys}/${z.fraction}`) ?? []), z]);
  const body = [...groups.values()].map((g) => {
    const first = g[0]!;
    const bound = results.zipfBound.find((b) => b.keys === first.keys)?.hitRatio ?? Number.NaN;
    return [
      `${count(first.keys)} keys, ${first.fraction * 100}% (${count(first.capacity)})`,
      count(first.requests),
      ...impls.map((i) => {
        const z = g.find((r) => r.impl === i);
        return z ? `${(z.hitRatio * 100).toFixed(2)}% ${ns(z.ns).padStart(5)}` : "-";
      }),
      `${(bound * 100).toFixed(2)}%`,
    ];
  });
  return {
    head: ["keys, cache size", "requests", ...impls.map((i) => LABELS[i].split(" (")[0]!), "unbounded"],
    body,
    align: ["l", "r", ...impls.map(() => "r" as const), "r"],
  };
}

function memoryBlock(results: CoreResults): { head: string[]; body: string[][]; align: ("l" | "r")[] } {
  const ours = results.memory.find((m) => m.id === "batch")?.perEntry;
  const body = results.memory.map((m) => [
    m.id === "batch" ? "buildid-cache" : LABELS[m.id],
    (m.heapBytes / m.entries).toFixed(1),
    (m.bufferBytes / m.entries).toFixed(1),
    (m.wasmBytes / m.entries).toFixed(1),
    m.perEntry.toFixed(1),
    ours === undefined || m.id === "batch" ? "" : times(m.perEntry / ours),
  ]);
  return {
    head: ["implementation", "JS heap", "ArrayBuffers", "wasm / native", "total B/entry", "vs ours"],
    body,
    align: ["l", "r", "r", "r", "r", "r"],
  };
}

function heapBlock(results: CoreResults): { head: string[]; body: string[][]; align: ("l" | "r")[] } {
  const body = results.heap.map((h) => [h.api, count(h.lookups), count(h.before), count(h.after), count(h.growth)]);
  return { head: ["API", "lookups", "heapUsed before", "after", "growth (B)"], body, align: ["l", "r", "r", "r", "r"] };
}

function targetBlock(results: CoreResults): { head: string[]; body: string[][]; align: ("l" | "r")[] } {
  const body = results.targets.map((t) => [
    t.name,
    t.goal,
    t.value === undefined
      ? "not measured"
      : `${t.unit === "x" ? t.value.toFixed(2) : t.unit === "" ? t.value.toFixed(4) : t.value.toFixed(1)}${t.unit}`,
    t.met === undefined ? "-" : t.met ? "met" : "MISSED",
  ]);
  return {
    head: ["target (65,536 live entries, slab-like keys)", "goal", "measured", ""],
    body,
    align: ["l", "l", "r", "l"],
  };
}

function machineLine(results: CoreResults): string {
  const m = results.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node} (V8 ${m.v8}), ${m.cc}; ${m.date}`;
}

function settingsLine(results: CoreResults): string {
  const s = results.settings;
  return `${s.quick ? "quick run: " : ""}medians of ${s.rounds} interleaved rounds (each the median of >= ${s.minSamples} timed calls over >= ${s.minMs} ms); native C: ${results.native}`;
}

/** The results as aligned plain-text tables. */
export function renderTerminal(results: CoreResults): string {
  const out: string[] = [`\nbuildid-cache benchmark - ${machineLine(results)}`, settingsLine(results), ""];
  for (const { dist, size } of cells(results)) {
    const b = matrixBlock(results.matrix.filter((r) => r.dist === dist && r.size === size));
    out.push(
      `${dist} keys, ${count(size)} live entries: ns/op, and time relative to the batch API`,
      table(b.head, b.body, b.align),
      "",
    );
  }
  const z = zipfBlock(results);
  out.push(`Zipf(0.9) get-or-insert: hit ratio and ns/request (one pass)`, table(z.head, z.body, z.align), "");
  const m = memoryBlock(results);
  out.push(
    `memory per live entry at ${count(results.memory[0]?.entries ?? 0)} entries (bytes)`,
    table(m.head, m.body, m.align),
    "",
  );
  const h = heapBlock(results);
  out.push("JS heap around many lookups (after full GCs)", table(h.head, h.body, h.align), "");
  const t = targetBlock(results);
  out.push("targets of issue 4", table(t.head, t.body, t.align), "");
  return `${out.join("\n")}\n`;
}

/** The results as Markdown, for the README and docs/bench.md. */
export function renderMarkdown(results: CoreResults): string {
  const out: string[] = [`Measured on ${machineLine(results)}.`, "", `${settingsLine(results)}.`, ""];
  const t = targetBlock(results);
  out.push("### Targets", "", markdownTable(t.head, t.body, t.align), "");
  for (const { dist, size } of cells(results)) {
    const b = matrixBlock(
      results.matrix.filter((r) => r.dist === dist && r.size === size),
      true,
    );
    out.push(
      `### ${dist} keys, ${count(size)} live entries`,
      "",
      "ns/op; `Nx` is the time relative to the batch API.",
      "",
      markdownTable(b.head, b.body, b.align),
      "",
    );
  }
  const z = zipfBlock(results);
  out.push(
    "### Zipf(0.9) hit ratio",
    "",
    "Hit ratio and ns per get-or-insert request; `unbounded` is a cache that never evicts.",
    "",
    markdownTable(z.head, z.body, z.align),
    "",
  );
  const m = memoryBlock(results);
  out.push("### Memory per live entry", "", markdownTable(m.head, m.body, m.align), "");
  const h = heapBlock(results);
  out.push("### JS heap around many lookups", "", markdownTable(h.head, h.body, h.align), "");
  return `${out.join("\n")}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/**
 * A self-contained SVG: one panel per operation on slab-like keys, a bar per implementation and
 * size on a log scale, then bytes per entry.
 */
export function renderChart(results: CoreResults): string {
  const width = 960;
  const labelWidth = 130;
  const memoryLabelWidth = 300;
  const barHeight = 11;
  const plotWidth = width - labelWidth - 90;
  const parts: string[] = [];
  let y = 20;
  parts.push(
    `<text x="10" y="${y}" font-size="15" font-weight="bold">buildid-cache vs peers: ns/op on slab-like inode keys (log scale, shorter is faster)</text>`,
  );
  y += 16;
  parts.push(`<text x="10" y="${y}" font-size="11" fill="#555">${escapeXml(machineLine(results))}</text>`);
  y += 14;
  const legend = IMPL_ORDER.filter((i) => results.matrix.some((r) => r.impl === i));
  for (const [k, impl] of legend.entries()) {
    const lx = 10 + (k % 3) * 310;
    const ly = y + Math.floor(k / 3) * 14;
    parts.push(
      `<rect x="${lx}" y="${ly}" width="10" height="10" fill="${COLORS[impl]}"/><text x="${lx + 14}" y="${ly + 9}" font-size="11">${escapeXml(LABELS[impl])}</text>`,
    );
  }
  y += Math.ceil(legend.length / 3) * 14 + 10;
  const slab = results.matrix.filter((r) => r.dist === "slab");
  const sizes = [...new Set(slab.map((r) => r.size))];
  const values = slab.map((r) => r.ns);
  const lo = Math.log10(Math.max(0.5, Math.min(...values, 1)) / 1.5);
  const hi = Math.log10(Math.max(...values, 10) * 1.5);
  const scale = (v: number) => ((Math.log10(v) - lo) / (hi - lo)) * plotWidth;
  for (const op of OPS) {
    y += 22;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${OP_TITLES[op]}</text>`);
    y += 6;
    for (const size of sizes) {
      const rows = IMPL_ORDER.map((impl) => slab.find((r) => r.impl === impl && r.op === op && r.size === size)).filter(
        (r) => r !== undefined,
      );
      if (rows.length === 0) continue;
      parts.push(`<text x="20" y="${y + 11}" font-size="11" fill="#333">${count(size)} entries</text>`);
      for (const r of rows) {
        const w = Math.max(1, scale(r.ns));
        parts.push(
          `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight - 2}" fill="${COLORS[r.impl]}"><title>${escapeXml(LABELS[r.impl])}: ${ns(r.ns)} ns/op</title></rect>`,
          `<text x="${(labelWidth + w + 4).toFixed(1)}" y="${y + 8}" font-size="9">${ns(r.ns)}</text>`,
        );
        y += barHeight;
      }
      y += 4;
    }
  }
  if (results.memory.length > 0) {
    y += 22;
    parts.push(
      `<text x="10" y="${y}" font-size="13" font-weight="bold">bytes per live entry at ${count(results.memory[0]!.entries)} entries (linear scale)</text>`,
    );
    y += 6;
    const most = Math.max(...results.memory.map((m) => m.perEntry));
    for (const m of results.memory) {
      const w = Math.max(1, (m.perEntry / most) * (width - memoryLabelWidth - 90));
      parts.push(
        `<text x="20" y="${y + 11}" font-size="11">${escapeXml(m.id === "batch" ? "buildid-cache" : LABELS[m.id])}</text>`,
        `<rect x="${memoryLabelWidth}" y="${y + 2}" width="${w.toFixed(1)}" height="${barHeight}" fill="${COLORS[m.id]}"/>`,
        `<text x="${(memoryLabelWidth + w + 4).toFixed(1)}" y="${y + 11}" font-size="10">${m.perEntry.toFixed(1)}</text>`,
      );
      y += barHeight + 4;
    }
  }
  y += 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join("\n")}\n</svg>\n`;
}
