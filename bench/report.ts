// Renders the core section's results: aligned terminal tables, Markdown for the README and
// docs/bench.md (the same sections either way), and a self-contained SVG chart.
import { ADDS, NESTS } from "./calls.js";
import {
  type Block,
  barPanel,
  code,
  count,
  markdownTable,
  ns,
  ratioSpread,
  svgDocument,
  table,
  times,
} from "./format.js";
import { onNode } from "./harness.js";
import {
  type CoreResults,
  IMPLS,
  type Impl,
  LABELS,
  type MatrixRow,
  NATIVES,
  OPS,
  type Op,
  type Target,
} from "./results.js";
import { ANCHOR, matrixRatio } from "./targets.js";

const OP_TITLES: Record<Op, string> = {
  insert: "insert",
  hit: "lookup hit",
  miss: "lookup miss",
  delete: "delete",
  churn: "churn (evict)",
};
const COLORS: Record<Impl, string> = {
  batch: "#1b7837",
  single: "#5aae61",
  wasm: "#a6dba0",
  native: "#762a83",
  absl: "#c2a5cf",
  "map-bigint": "#d6604d",
  "map-number": "#f4a582",
  "lru-cache": "#4393c3",
  mnemonist: "#92c5de",
  "lru.min": "#878787",
};

/** How every comparison is timed, printed with every report. */
const METHOD = [
  "Every implementation runs the same passes in the same order in every round (hit, miss, delete, insert:",
  "from a full table back to a full one), once untimed and then timed until the budget is spent; each timed",
  "pass is a separate call of a function that ran before, so no timed pass runs in on-stack-replaced code.",
  "Native tables run in a fresh process per round, which does the same. Ratios are per round, median [min..max].",
];

function cells(results: CoreResults): { dist: string; size: number }[] {
  const seen = new Map<string, { dist: string; size: number }>();
  for (const r of results.matrix) seen.set(`${r.size}/${r.dist}`, { dist: r.dist, size: r.size });
  return [...seen.values()];
}

// One block of the matrix: a row per implementation, "ns/op ratio" per operation, ratio = ns / batch ns.
function matrixBlock(rows: MatrixRow[], md: boolean): Block {
  const at = (impl: Impl, op: Op) => rows.find((r) => r.impl === impl && r.op === op)?.ns;
  const body: string[][] = [];
  for (const impl of IMPLS) {
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

function zipfBlock(results: CoreResults): Block {
  const impls = IMPLS.filter((i) => results.zipf.some((z) => z.impl === i));
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

function memoryBlock(results: CoreResults): Block {
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

function heapBlock(results: CoreResults): Block {
  const body = results.heap.map((h) => [h.api, count(h.lookups), count(h.before), count(h.after), count(h.growth)]);
  return { head: ["API", "lookups", "heapUsed before", "after", "growth (B)"], body, align: ["l", "r", "r", "r", "r"] };
}

function measured(t: Target): string {
  if (t.value === undefined) return "not measured";
  const digits = t.unit === "x" ? 2 : t.unit === "" ? 4 : 1;
  const range = t.range ? ` [${t.range[0].toFixed(digits)}..${t.range[1].toFixed(digits)}]` : "";
  return `${t.value.toFixed(digits)}${t.unit}${range}`;
}

function targetBlock(targets: Target[], head: string): Block {
  const body = targets.map((t) => [t.name, t.goal, measured(t), t.met === undefined ? "-" : t.met ? "met" : "MISSED"]);
  return { head: [head, "goal", "measured", ""], body, align: ["l", "l", "r", "l"] };
}

// The core inside wasm against each native table, per operation, on slab-like keys.
function anchorBlock(results: CoreResults): Block | undefined {
  const sizes = [...new Set(results.matrix.filter((r) => r.impl === "wasm" && r.dist === "slab").map((r) => r.size))];
  const body: string[][] = [];
  for (const impl of NATIVES) {
    for (const size of sizes) {
      const ratios = ANCHOR.ops.map((op) => matrixRatio(results, "wasm", impl, op, size));
      if (ratios.every((x) => x === undefined)) continue;
      body.push([
        `core inside wasm : ${impl === "native" ? "C twin" : "absl"}`,
        count(size),
        ...ratios.map((x) => (x ? ratioSpread(x) : "-")),
      ]);
    }
  }
  if (body.length === 0) return undefined;
  return {
    head: ["time ratio", "live entries", ...ANCHOR.ops.map((op) => OP_TITLES[op])],
    body,
    align: ["l", "r", "r", "r", "r", "r"],
  };
}

function tableBytesBlock(results: CoreResults): Block | undefined {
  const rows = results.tableBytes.filter((b) => b.dist === "slab");
  if (rows.length === 0) return undefined;
  const sizes = [...new Set(rows.map((b) => b.size))];
  const impls = (["wasm", ...NATIVES] as const).filter((i) => rows.some((b) => b.impl === i));
  const body = sizes.map((size) => [
    count(size),
    ...impls.map((impl) => {
      const b = rows.find((r) => r.impl === impl && r.size === size);
      return b ? (b.bytes / size).toFixed(1) : "-";
    }),
  ]);
  const head = impls.map((i) =>
    i === "wasm" ? "core (linear memory)" : i === "native" ? "C twin (index + entries)" : "absl (allocated)",
  );
  return { head: ["live entries", ...head], body, align: ["l", ...impls.map(() => "r" as const)] };
}

function callsBlock(results: CoreResults): Block | undefined {
  const calls = results.calls;
  if (!calls) return undefined;
  const at = (call: string) => calls.rows.find((r) => r.call === call)?.ns.median;
  const body = calls.rows.map((r) => {
    const inner = NESTS[r.call];
    const base = inner === undefined ? undefined : at(inner);
    return [
      r.call,
      ADDS[r.call],
      `${ns(r.ns.median)} [${ns(r.ns.min)}..${ns(r.ns.max)}]`,
      base === undefined ? "" : ns(r.ns.median - base),
    ];
  });
  return { head: ["variant", "what it adds", "ns/call", "part (ns)"], body, align: ["l", "l", "r", "r"] };
}

function machineLine(results: CoreResults): string {
  const m = results.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node} (V8 ${m.v8}), ${m.cc}, ${m.cxx}; ${m.date}`;
}

function settingsLine(results: CoreResults): string {
  const s = results.settings;
  const natives = Object.entries(results.natives)
    .map(([id, how]) => `${id}: ${how}`)
    .join("; ");
  return `${s.quick ? "quick run: " : ""}BENCH_SEED=${s.seed}; medians of ${s.rounds} interleaved rounds (each the median of >= ${s.minSamples} timed passes over >= ${s.minMs} ms); ${natives}`;
}

interface Section {
  title: string;
  note?: string;
  block: Block;
}

function sections(results: CoreResults, md: boolean): Section[] {
  const out: Section[] = [];
  const add = (title: string, block: Block | undefined, note?: string) => {
    if (block && block.body.length > 0)
      out.push({ title: onNode(title, String(results.machine.node)), block, ...(note ? { note } : {}) });
  };
  add(
    "Targets of issue 17 (the core against absl::flat_hash_map, slab-like keys)",
    targetBlock(results.anchorTargets, "target"),
  );
  add("Targets of issue 4", targetBlock(results.targets, "target (65,536 live entries, slab-like keys)"));
  add(
    "The core inside wasm against the native tables (slab-like keys)",
    anchorBlock(results),
    "time of the core over the native table's, per round; below 1 the core is faster",
  );
  add("Table bytes per live entry (slab-like keys)", tableBytesBlock(results));
  if (results.calls)
    add(
      `One-key calls, split into their parts (${count(results.calls.size)} live entries, ${count(results.calls.keys)} distinct hits per pass)`,
      callsBlock(results),
      "each variant adds one part to the one it nests; part = its ns minus that one's",
    );
  for (const { dist, size } of cells(results)) {
    add(
      `${dist} keys, ${count(size)} live entries`,
      matrixBlock(
        results.matrix.filter((r) => r.dist === dist && r.size === size),
        md,
      ),
      "ns/op, and time relative to the batch API",
    );
  }
  add(
    "Zipf(0.9) get-or-insert",
    zipfBlock(results),
    "hit ratio and ns per request (one pass); unbounded: a cache that never evicts",
  );
  add(`Memory per live entry at ${count(results.memory[0]?.entries ?? 0)} entries (bytes)`, memoryBlock(results));
  add("JS heap around many lookups (after full GCs)", heapBlock(results));
  return out;
}

/** The results as aligned plain-text tables. */
export function renderTerminal(results: CoreResults): string {
  const out: string[] = [`\nbuildid-cache benchmark - ${machineLine(results)}`, settingsLine(results), ...METHOD, ""];
  for (const s of sections(results, false)) out.push(s.note ? `${s.title}: ${s.note}` : s.title, table(s.block), "");
  return `${out.join("\n")}\n`;
}

/** The results as Markdown, for the README and docs/bench.md. */
export function renderMarkdown(results: CoreResults): string {
  const out: string[] = [
    `Measured on ${machineLine(results)}.`,
    "",
    `${settingsLine(results)}.`,
    "",
    METHOD.join(" "),
    "",
  ];
  for (const s of sections(results, true))
    out.push(`### ${s.title}`, "", ...(s.note ? [`${s.note}.`, ""] : []), markdownTable(s.block), "");
  return `${out.join("\n")}\n`;
}

/** A self-contained SVG: a panel per operation on slab-like keys (a bar per implementation and size, log scale), then bytes per entry. */
export function renderChart(results: CoreResults): string {
  const slab = results.matrix.filter((r) => r.dist === "slab");
  const sizes = [...new Set(slab.map((r) => r.size))];
  const bar = (impl: Impl, value: number) => ({ name: LABELS[impl], value, color: COLORS[impl] });
  const panels = OPS.filter((op) => slab.some((r) => r.op === op)).map(
    (op) => (y: number) =>
      barPanel(
        onNode(
          `${OP_TITLES[op]}: ns/op on slab-like keys (log scale, shorter is faster)`,
          String(results.machine.node),
        ),
        sizes.map((size) => ({
          label: `${count(size)} entries`,
          bars: IMPLS.flatMap((impl) => {
            const r = slab.find((m) => m.impl === impl && m.op === op && m.size === size);
            return r ? [bar(impl, r.ns)] : [];
          }),
        })),
        y,
        ns,
      ),
  );
  if (results.memory.length > 0)
    panels.push((y) =>
      barPanel(
        onNode(
          `bytes per live entry at ${count(results.memory[0]!.entries)} entries (linear scale)`,
          String(results.machine.node),
        ),
        results.memory.map((m) => ({
          label: m.id === "batch" ? "buildid-cache" : LABELS[m.id],
          bars: [bar(m.id, m.perEntry)],
        })),
        y,
        (v) => v.toFixed(1),
        "linear",
      ),
    );
  return svgDocument(`buildid-cache vs peers - ${machineLine(results)}`, panels);
}
