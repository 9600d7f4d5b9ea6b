// Benchmark "page": the demo page's own benchmark (web/bench.ts) in headless Chromium, run as a visitor runs it.
// Builds the page with vite into a temporary folder, serves it on 127.0.0.1 (with the COOP/COEP headers that
// make it cross-origin isolated, unless --not-isolated), and for each run opens a new tab, picks the size,
// presses Run and reads the table. Sizes alternate within a run; the table gives each row's figures over the runs,
// with how far each side's own figure moved, so a spread can be told the cache's or the Map's.
// Each run also gives the page's memory probe (ns per dependent read from main memory, timed beside the rows) and
// every table's own figure (each side's tables are built several times a run, in new workers), so a spread can be
// told the machine's (the probe moves with it), the heap layout's (a run's tables differ) or the moment's.
// --tables 1,3 takes turns between tables per part in each run (1 is the method before several tables), a table each.
// --turn-keys 16384,262144 takes turns between the keys a turn of the misses and batched lookups covers at least
// (16,384: one pass, the method before longer turns for them). --tab new,same takes turns between a new tab for
// every run (the default) and one tab for all of a method's runs (the browser's state carried over). --save FILE writes
// every run as JSON after each run, with the page's whole result: every round's turns and slices, when each turn
// started (one clock for every worker), the probe's rounds. --js-flags passes V8 flags. Each run prints how many rounds
// the page played (more while a row's ratio was not yet known within the page's precision) and whether every row came to be.
//   npm run bench:page [-- --runs N --sizes 16384,65536 --tables N[,M] --turn-keys N[,M] --tab new[,same] --save FILE --js-flags F --not-isolated]
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Page } from "playwright-core";
import { build } from "vite";
import { CHROMIUM_ARGS, launchChromium, serveStatic } from "../test/browser/harness.js";

const WEB = resolve(import.meta.dirname, "../web");
const RUN_TIMEOUT_MS = 15 * 60_000;
/** The issue's goal for every row: the cache at least this many times faster than Map. */
const GOAL = 3;

/** One row of one run, as the page shows it. */
interface PageRow {
  operation: string;
  cacheNs: number;
  mapNs: number;
  ratio: number;
  /** The ratio from the first half of the rounds alone and from the second. */
  interval: number[];
  /** Each table's own figure; cacheNs and mapNs are their medians. */
  cacheTables: number[];
  mapTables: number[];
  /** Each round's whole turn as timed, ns per operation, every table's in turn. */
  cacheRounds: number[];
  mapRounds: number[];
  /** Slices in each side's turn, as the run planned them. */
  slices: number[];
}

/** What one run of the page reports. */
interface PageRun {
  keys: number;
  rows: PageRow[];
  method: string;
  isolated: boolean;
  tables: number;
  /** Timed rounds the run played (more than it starts with while a row was imprecise), and whether every row came within the precision. */
  rounds: number;
  precise: boolean;
  /** The memory probe's ns per dependent read in this run, and per read that may overlap. */
  memoryNs: number;
  scatterNs: number;
  /** MiB of a buffer just read that the caches still held, the median of the run's rounds ("L3 left"); absent on pages before it. */
  l3MiB: number;
  /** The page's whole result (every round's slices, when each turn started), with --save. */
  raw?: unknown;
}

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    sizes: { type: "string", default: "16384,65536" },
    tables: { type: "string" },
    "turn-keys": { type: "string" },
    save: { type: "string" },
    "js-flags": { type: "string" },
    "not-isolated": { type: "boolean", default: false },
    tab: { type: "string", default: "new" },
  },
});
const runs = Number(values.runs);
const sizes = values.sizes.split(",").map(Number);
/** Each of a list option's integers >= 1, or the page's default (undefined) when it is not given. */
const integers = (name: "tables" | "turn-keys") => {
  const list = values[name]?.split(",").map(Number) ?? [undefined];
  for (const n of list) {
    if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
      throw new RangeError(`--${name} must list integers >= 1, got ${values[name]}`);
    }
  }
  return list;
};
/** The page's methods a run takes turns between: tables per part (--tables) by turn keys of the short rows (--turn-keys). */
interface Method {
  tables: number | undefined;
  turnKeys: number | undefined;
  /** "new": each run in a new tab; "same": every run of this method in one tab, the browser's state carried over. */
  tab: "new" | "same";
}
const tabModes = values.tab.split(",");
for (const mode of tabModes) {
  if (mode !== "new" && mode !== "same") throw new RangeError(`--tab must list new and/or same, got ${values.tab}`);
}
const methods: Method[] = integers("tables").flatMap((tables) =>
  integers("turn-keys").flatMap((turnKeys) => (tabModes as Method["tab"][]).map((tab) => ({ tables, turnKeys, tab }))),
);
const cases = methods.flatMap((method) => sizes.map((size) => ({ ...method, size })));
const caseName = ({ tables, turnKeys, tab, size }: Method & { size: number }) =>
  `${tables ?? "default"}:${turnKeys ?? "default"}:${tab}:${size}`;
/** The page's address with a method's parameters. */
const address = (url: string, { tables, turnKeys }: Method) => {
  const query = new URLSearchParams();
  if (tables !== undefined) query.set("tables", String(tables));
  if (turnKeys !== undefined) query.set("turnkeys", String(turnKeys));
  return query.size ? `${url}?${query}` : url;
};
if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`--runs must be an integer >= 1, got ${values.runs}`);
for (const size of sizes) {
  if (![1024, 16384, 65536, 262144].includes(size)) {
    throw new RangeError(`--sizes must list the page's sizes (1024, 16384, 65536, 262144), got ${size}`);
  }
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
const uptime = () => execFileSync("uptime", { encoding: "utf8" }).trim();
/** How far the furthest of `xs` lies from their median, in percent of it. */
const spread = (xs: number[]) => {
  const mid = median(xs);
  return `±${((100 * Math.max(Math.max(...xs) - mid, mid - Math.min(...xs))) / mid).toFixed(1)}%`;
};
/** Pearson's correlation of `xs` and `ys`. */
const correlation = (xs: number[], ys: number[]) => {
  const mean = (vs: number[]) => vs.reduce((a, b) => a + b, 0) / vs.length;
  const [mx, my] = [mean(xs), mean(ys)];
  let [sxy, sxx, syy] = [0, 0, 0];
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
    syy += (ys[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
};
/** How `ns` (one per run) follows each run's probe figure `probe`, as Pearson's r. */
const rOf = (ns: number[], runs: PageRun[], probe: "memoryNs" | "scatterNs" | "l3MiB") =>
  correlation(
    ns,
    runs.map((run) => run[probe]),
  ).toFixed(2);
/** Per run, how far its tables lay apart ((highest - lowest) ÷ median); the median over the runs, in percent. */
const within = (runs: number[][]) =>
  `${(100 * median(runs.map((xs) => (Math.max(...xs) - Math.min(...xs)) / median(xs)))).toFixed(1)}%`;

const outDir = await mkdtemp(join(tmpdir(), "buildid-cache-page-bench-"));
try {
  await build({ root: WEB, configFile: join(WEB, "vite.config.ts"), logLevel: "warn", build: { outDir } });
  const server = await serveStatic(outDir, {}, { isolated: !values["not-isolated"] });
  const browser = await launchChromium(values["js-flags"] ? [`--js-flags=${values["js-flags"]}`] : []);
  const version = browser.context.browser()?.version() ?? "unknown";
  const started = uptime();
  const results = new Map<string, PageRun[]>(cases.map((c) => [caseName(c), []]));
  // --tab same: every run of a method in one tab, opened at its first run (the browser's own state carried over).
  const tabs = new Map<string, Page>();
  const tabFor = async (method: Method) => {
    const url = address(server.url, method);
    const open = tabs.get(url);
    if (open && method.tab === "same") return open;
    const page = await browser.context.newPage();
    await page.goto(url);
    await page.locator("body[data-ready]").waitFor();
    if (method.tab === "same") tabs.set(url, page);
    return page;
  };
  try {
    for (let run = 0; run < runs; run++) {
      for (const { tables, turnKeys, tab, size } of run % 2 === 0 ? cases : cases.toReversed()) {
        const page = await tabFor({ tables, turnKeys, tab });
        try {
          await page.locator("#bench-status").evaluate((status) => {
            status.textContent = "";
          });
          await page.locator("#bench-keys").selectOption(String(size));
          await page.locator("#bench-run").click();
          const status = page.locator("#bench-status");
          await page
            .locator("#bench-status", { hasText: /^(Done|The benchmark failed)/ })
            .waitFor({ timeout: RUN_TIMEOUT_MS });
          const text = (await status.textContent()) ?? "";
          if (!text.startsWith("Done")) throw new Error(`run ${run + 1}, ${size} keys: ${text}`);
          const result: PageRun = {
            keys: size,
            isolated: await page.evaluate(() => crossOriginIsolated),
            method: (await page.locator("#bench-method").textContent()) ?? "",
            tables: Number(await page.locator("#bench-result").getAttribute("data-tables")),
            rounds: Number(await page.locator("#bench-result").getAttribute("data-rounds")),
            precise: (await page.locator("#bench-result").getAttribute("data-precise")) === "true",
            memoryNs: Number(await page.locator("#bench-result").getAttribute("data-memory-ns")),
            scatterNs: Number(await page.locator("#bench-result").getAttribute("data-scatter-ns")),
            l3MiB: Number((await page.locator("#bench-result").getAttribute("data-l3-mib")) ?? Number.NaN),
            rows: await page.locator("#bench-table tbody tr").evaluateAll((trs) =>
              trs.map((tr) => {
                const d = (tr as HTMLElement).dataset;
                return {
                  operation: d.operation!,
                  cacheNs: Number(d.cacheNs),
                  mapNs: Number(d.mapNs),
                  ratio: Number(d.ratio),
                  interval: d.interval!.split(" ").map(Number),
                  cacheTables: d.cacheTables!.split(" ").map(Number),
                  mapTables: d.mapTables!.split(" ").map(Number),
                  cacheRounds: d.cacheRounds!.split(" ").map(Number),
                  mapRounds: d.mapRounds!.split(" ").map(Number),
                  slices: d.slices!.split(" ").map(Number),
                };
              }),
            ),
          };
          results.get(caseName({ tables, turnKeys, tab, size }))!.push(result);
          if (values.save) {
            result.raw = await page.evaluate(() => (globalThis as { benchResult?: unknown }).benchResult);
            await writeFile(values.save, `${JSON.stringify({ version, runs: [...results.values()].flat() })}\n`);
          }
          const figures = result.rows.map(
            (row) =>
              `  ${row.operation.padEnd(18)} ${row.cacheNs.toFixed(1).padStart(6)} ${row.mapNs.toFixed(1).padStart(7)} ns` +
              ` ${row.ratio.toFixed(2).padStart(6)}x (95% interval ${row.interval.map((h) => h.toFixed(2)).join("..")})` +
              ` tables: cache ${row.cacheTables.map((x) => x.toFixed(1)).join(" ")}, Map ${row.mapTables.map((x) => x.toFixed(1)).join(" ")}`,
          );
          console.error(
            `run ${run + 1}/${runs}, ${size} keys, ${result.rounds} rounds (${result.precise ? "every row precise" : "stopped at a limit"}), ${result.tables} tables, turn keys ${turnKeys ?? "default"}, ${tab} tab, load ${load()}, memory ${result.memoryNs.toFixed(1)} ns (overlapping ${result.scatterNs.toFixed(1)}), L3 left ${result.l3MiB.toFixed(1)} MiB: ${result.method}\n${figures.join("\n")}`,
          );
        } finally {
          if (tab === "new") await page.close();
        }
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }

  const first = [...results.values()][0]![0]!;
  console.log(
    `Chromium ${version} (headless, ${CHROMIUM_ARGS.join(" ")}${values["js-flags"] ? ` --js-flags=${values["js-flags"]}` : ""}),` +
      ` ${cpus()[0]?.model ?? "cpu"} x ${cpus().length}`,
  );
  console.log(`page ${first.isolated ? "cross-origin isolated" : "NOT cross-origin isolated"}; ${first.method}`);
  console.log(`load: at the start ${started}`);
  console.log(`      at the end   ${uptime()}`);
  console.log(
    `${runs} runs per size, each with new workers (each side's lookups and inserts, N tables of each, and` +
      " a memory probe). Per run: each side's median of its tables' figures; here the median of the runs, each side's spread" +
      " around it, and each run's Map ÷ cache. A spread ±X%: the run furthest from the median of the runs, in percent of that" +
      " median. Slices a turn: the fewest and most a run planned for each side's turn. Within a run: how far a run's tables of one side lay apart, (highest - lowest)" +
      " ÷ median, the median over the runs. Map ÷ probe: the spread of each run's Map time in dependent reads; r: how the runs' Map time follows the probe's dependent and overlapping reads, and the L3 it found left." +
      " The page's figures (since pagemed): each side's median slice of a round, the median over the rounds; the ratio the median over the rounds of each round's Map ÷ cache.",
  );
  for (const method of methods) summarize(method);

  /** The table over the runs of the page with `method`. */
  function summarize(method: Method): void {
    console.log("");
    console.log(
      `${results.get(caseName({ ...method, size: sizes[0]! }))![0]!.tables} tables per part and side,` +
        ` turn keys of the misses and batched lookups ${method.turnKeys ?? "the page's default"},` +
        (method.tab === "same" ? " every run in one tab:" : " each run in a new tab:"),
    );
    for (const size of sizes) {
      const runsOf = results.get(caseName({ ...method, size }))!;
      console.log(
        `rounds at ${size.toLocaleString("en")} keys: ${runsOf.map((r) => r.rounds).join(" ")};` +
          ` every row known within the page's precision in ${runsOf.filter((r) => r.precise).length} of ${runsOf.length} runs`,
      );
      for (const [name, ns] of [
        ["a dependent read, ns", runsOf.map((r) => r.memoryNs)],
        ["an overlapping read, ns", runsOf.map((r) => r.scatterNs)],
        ["L3 left, MiB", runsOf.map((r) => r.l3MiB)],
      ] as const) {
        console.log(
          `memory probe at ${size.toLocaleString("en")} keys, ${name}: ${median(ns).toFixed(1)} ${spread(ns)}` +
            ` (runs: ${ns.map((x) => x.toFixed(1)).join(" ")})`,
        );
      }
    }
    console.log("");
    const header = [
      "operation",
      "keys",
      "cache ns",
      "(spread)",
      "Map ns",
      "(spread)",
      "cache tables",
      "Map tables",
      "slices a turn",
      "Map ÷ probe",
      "r(Map, probe)",
      "r(Map, L3)",
      "Map ÷ cache",
      "runs' ratios",
      "spread",
      `>= ${GOAL}x`,
    ];
    const lines: string[][] = [];
    for (const operation of first.rows.map((row) => row.operation)) {
      for (const size of sizes) {
        const runsOf = results.get(caseName({ ...method, size }))!;
        const rows = runsOf.map((r) => r.rows.find((row) => row.operation === operation)!);
        const ratios = rows.map((row) => row.ratio);
        const cacheNs = rows.map((row) => row.cacheNs);
        const mapNs = rows.map((row) => row.mapNs);
        lines.push([
          operation,
          size.toLocaleString("en"),
          median(cacheNs).toFixed(1),
          spread(cacheNs),
          median(mapNs).toFixed(1),
          spread(mapNs),
          within(rows.map((row) => row.cacheTables)),
          within(rows.map((row) => row.mapTables)),
          (["cache", "Map"] as const)
            .map((name, side) => {
              const counts = rows.map((row) => row.slices[side]!);
              return `${name} ${Math.min(...counts)}..${Math.max(...counts)}`;
            })
            .join(", "),
          spread(runsOf.map((r, i) => rows[i]!.mapNs / r.memoryNs)),
          runsOf.length < 3 ? "-" : `${rOf(mapNs, runsOf, "memoryNs")} ${rOf(mapNs, runsOf, "scatterNs")}`,
          runsOf.length < 3 ? "-" : rOf(mapNs, runsOf, "l3MiB"),
          `${median(ratios).toFixed(2)}x`,
          `${Math.min(...ratios).toFixed(2)}..${Math.max(...ratios).toFixed(2)}`,
          spread(ratios),
          Math.min(...ratios) >= GOAL ? "every run" : `${ratios.filter((r) => r >= GOAL).length} of ${ratios.length}`,
        ]);
      }
    }
    const widths = header.map((h, c) => Math.max(h.length, ...lines.map((line) => line[c]!.length)));
    const format = (cells: string[]) =>
      `| ${cells.map((text, c) => (c < 1 ? text.padEnd(widths[c]!) : text.padStart(widths[c]!))).join(" | ")} |`;
    console.log(format(header));
    console.log(`| ${widths.map((w, c) => (c < 1 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`);
    for (const line of lines) console.log(format(line));
  }
} finally {
  await rm(outDir, { recursive: true, force: true });
}
