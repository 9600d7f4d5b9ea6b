// Section 3: the benchmark, each side's lookups and inserts in workers of their own, shown as a chart and a table of ratios with their spread.
import type { BuildIdCacheStats } from "../src/index.js";
import {
  type BenchResult,
  LONG_ROWS,
  OPERATIONS,
  type OpenSide,
  runBenchmark,
  SETTLE_BYTES,
  SIDE_WORKER,
  WARM_ROUNDS,
} from "./bench.js";
import { PROBE_BYTES, REREAD_MIB } from "./bench-probe.js";
import { CONFIDENCE, MORE_ROUNDS, PRECISION, ROUND_LIMIT, reachOf, TIME_LIMIT_MS } from "./bench-stats.js";
import {
  MAX_REPEATS,
  MIN_SLICE_STEPS,
  MIN_SLICES,
  MIN_TURN_STEPS,
  PLAN_PIECES,
  PLAN_TURNS,
  type SideResult,
  SWEEP_BYTES,
  WARM_CALL_KEYS,
} from "./bench-timing.js";
import type { SideReply, SideRequest, SideValue } from "./bench-worker.js";
import { barChart } from "./chart.js";
import { cell, element, messageOf } from "./dom.js";

/** Opens one table of one part of one side of the benchmark, or its memory probe, in a new worker of its own: no two share a heap. */
const openInWorker: OpenSide = async (side, part, keys, resolution, passes) => {
  const worker = new Worker(new URL("./bench-worker.ts", import.meta.url), {
    type: "module",
    name: side === "memory" ? SIDE_WORKER.memory : SIDE_WORKER[side][part],
  });
  // Calls are made one at a time, so each reply answers the oldest pending call.
  const pending: { resolve: (value: SideValue) => void; reject: (error: Error) => void }[] = [];
  const fail = (error: Error) => {
    for (const call of pending.splice(0)) call.reject(error);
  };
  worker.onmessage = ({ data }: MessageEvent<SideReply>) => {
    const call = pending.shift();
    if (data.type === "value") call?.resolve(data.value);
    else call?.reject(new Error(data.message));
  };
  worker.onerror = (event) => fail(new Error(event.message || "the benchmark's worker failed to start"));
  const call = <T extends SideValue>(request: SideRequest) =>
    new Promise<T>((resolve, reject) => {
      pending.push({ resolve: resolve as (value: SideValue) => void, reject });
      worker.postMessage(request);
    });
  try {
    await call({ call: "open", side, part, keys, resolution, passes: [...passes] });
  } catch (error) {
    worker.terminate();
    throw error;
  }
  return {
    warm: (row) => call<undefined>({ call: "warm", row }),
    turn: (row, round) => call<number>({ call: "turn", row, round }),
    finish: () => call<SideResult>({ call: "finish" }),
    close: () => worker.terminate(),
  };
};

const ns = (value: number) => value.toFixed(1);
const times = (value: number) => `${value.toFixed(2)}×`;

function showResult(result: BenchResult): void {
  const { rows } = result;
  const chart = barChart(
    rows.map((row) => ({ label: row.operation, values: [row.cacheNs, row.mapNs] })),
    ["BuildIdCache", "Map<bigint, Uint8Array>"],
    (value) => `${ns(value)} ns`,
    "Nanoseconds per operation, BuildIdCache against Map",
  );
  element<HTMLElement>("#bench-chart").replaceChildren(chart);
  const body = element<HTMLTableElement>("#bench-table").tBodies[0] as HTMLTableSectionElement;
  body.replaceChildren();
  for (const row of rows) {
    const tr = body.insertRow();
    Object.assign(tr.dataset, {
      operation: row.operation,
      cacheNs: String(row.cacheNs),
      mapNs: String(row.mapNs),
      ratio: String(row.ratio),
      interval: row.interval.join(" "),
      cacheRounds: row.cacheRounds.join(" "),
      mapRounds: row.mapRounds.join(" "),
      cacheTables: row.cacheTables.join(" "),
      mapTables: row.mapTables.join(" "),
      slices: `${row.cacheSlices[0]?.length ?? 0} ${row.mapSlices[0]?.length ?? 0}`,
    });
    cell(tr, row.operation, "operation");
    const eachTable = (figures: number[]) => `the median of ${figures.length}: ${figures.map(ns).join(", ")} ns`;
    cell(tr, ns(row.cacheNs), "num cache-ns").title = eachTable(row.cacheTables);
    cell(tr, ns(row.mapNs), "num map-ns").title = eachTable(row.mapTables);
    cell(tr, times(row.ratio), "num ratio");
    const [low, high] = row.interval;
    cell(tr, `±${(100 * reachOf(row.interval, row.ratio)).toFixed(1)}%`, "num interval").title =
      `${CONFIDENCE * 100}% sure the median of this machine's rounds lies in ${low.toFixed(2)}–${times(high)}`;
  }
  const resolution = result.timerResolutionMs * 1000;
  const slice = result.sliceMs < 1 ? result.sliceMs.toFixed(1) : result.sliceMs.toFixed(0);
  element<HTMLElement>("#bench-l3").textContent =
    `L3 left, MiB: ${result.l3MiB.toFixed(1)} (the median of the rounds; ${Math.min(...result.l3Rounds).toFixed(1)}–` +
    `${Math.max(...result.l3Rounds).toFixed(1)} across them)`;
  element<HTMLElement>("#bench-method").textContent =
    `${result.keys.toLocaleString("en")} keys, ${result.rounds} rounds; ns/op is each side's median slice of a round, the median over the rounds,` +
    " and Map ÷ cache the median over the rounds of each round's Map ÷ cache (both sides' turns back to back)" +
    roundsPlayed(result) +
    "; each side's lookups and inserts in workers of their own, so no turn follows another's allocations in the same heap" +
    (result.tables > 1
      ? `; each built ${result.tables} times in new workers, every round timing each of them, a side's figure the median of its tables'` +
        " (each time V8 lays a table out in its heap anew)"
      : "") +
    `; the lookups on a table built once, each key looked up once and ${SETTLE_BYTES >> 20} MiB of short-lived objects allocated before the rounds, so that collections promoted it first` +
    `; each side's turn ${result.turnPasses === 1 ? "one pass" : `${result.turnPasses} passes`} over the keys,` +
    ` right after an untimed read of ${SWEEP_BYTES >> 20} MiB that pushes both tables out of the CPU's caches into main memory` +
    longTurns(result) +
    `, timed in slices of about ${slice} ms (as many a turn as its median piece of ${PLAN_TURNS} turns, each after the read and timed in ${PLAN_PIECES} pieces, says it takes; ${MIN_SLICES} at least where each lasts ${MIN_SLICE_STEPS} steps of the timer), a turn shorter than ${MIN_TURN_STEPS} steps played again after the read, up to ${MAX_REPEATS} times` +
    `; before the timed rounds, each body warmed in calls of ${WARM_CALL_KEYS} keys, its part's rows in turn, then ${WARM_ROUNDS}` +
    " untimed rounds played as the timed ones are, so that the code timed is the code the browser keeps." +
    ` A read from main memory took ${ns(result.memoryNs)} ns in this run, ${ns(result.scatterNs)} ns a read when they` +
    ` overlap (random lines of ${PROBE_BYTES >> 20} MiB timed the same way, each address the value read before, or not);` +
    ` the CPU's caches still held ${result.l3MiB.toFixed(1)} MiB of a buffer just read (L3 left: buffers of ${REREAD_MIB.join(", ")} MiB` +
    ` read, then re-read in random order at ${result.rereadNs.map(ns).join(", ")} ns a read), the part of the last-level cache` +
    " the machine's other programs left this run: the Map's side runs faster the more there is." +
    ` This browser's timer steps ${resolution.toFixed(resolution < 10 ? 1 : 0)} µs` +
    (crossOriginIsolated
      ? " (cross-origin isolated)."
      : " (not cross-origin isolated: timings last longer, figures are noisier).");
  const shown = element<HTMLElement>("#bench-result");
  Object.assign(shown.dataset, {
    tables: String(result.tables),
    rounds: String(result.rounds),
    precise: String(result.precise),
    memoryNs: String(result.memoryNs),
    scatterNs: String(result.scatterNs),
    l3Mib: String(result.l3MiB),
    memoryRounds: result.memoryRounds.join(" "),
  });
  shown.hidden = false;
  (globalThis as { benchResult?: BenchResult }).benchResult = result;
}

/** How many rounds the run played and why it stopped, for the method's text. */
function roundsPlayed({ rounds, firstRounds, precise, roundsMs }: BenchResult): string {
  const rule =
    `; a run plays ${firstRounds} rounds, then ${MORE_ROUNDS} more at a time until every row's ratio is known within ±${PRECISION * 100}%` +
    ` (the ± beside it: a ${CONFIDENCE * 100}% confidence interval of the median of its rounds' Map ÷ cache), for at most` +
    ` ${ROUND_LIMIT * firstRounds} rounds or ${TIME_LIMIT_MS / 1000} s`;
  const took = `${rounds} rounds in ${(roundsMs / 1000).toFixed(0)} s`;
  return precise ? `${rule}: ${took}` : `${rule}: ${took}, and the rows with a wider ± are known only that far`;
}

/** What the turns of {@link LONG_ROWS} cover where it differs from the other rows', for the method's text. */
function longTurns(result: BenchResult): string {
  const long = LONG_ROWS.flatMap((op) => {
    const passes = result.rowPasses[OPERATIONS.indexOf(op)]!;
    const name = op === "lookup, miss" ? "misses" : `${op}s`;
    return passes === result.turnPasses ? [] : [`the ${name} ${passes} passes`];
  });
  return long.length ? ` (${long.join(", ")} after it, so that a turn lasts a millisecond or more)` : "";
}

/** A number from the page's address (`?tables=N`, `?turnkeys=N`, for `npm run bench:page`; `?rounds=N`, for tests), else undefined. */
function asked(name: string): number | undefined {
  const value = new URLSearchParams(location.search).get(name);
  return value === null ? undefined : Number(value);
}

/** Wires section 3; `showStats` hears the benchmark cache's counters after each run. */
export function mountBenchSection(showStats: (bench: BuildIdCacheStats) => void): void {
  const button = element<HTMLButtonElement>("#bench-run");
  const status = element<HTMLElement>("#bench-status");
  element<HTMLFormElement>("#bench-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const keys = Number(element<HTMLSelectElement>("#bench-keys").value);
    const tables = asked("tables");
    const longTurnKeys = asked("turnkeys");
    const rounds = asked("rounds");
    button.disabled = true;
    try {
      const started = performance.now();
      const result = await runBenchmark(keys, ({ step }) => (status.textContent = `Running: ${step}…`), {
        open: openInWorker,
        ...(tables !== undefined && { tables }),
        ...(longTurnKeys !== undefined && { longTurnKeys }),
        ...(rounds !== undefined && { rounds }),
      });
      showResult(result);
      showStats(result.stats);
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      status.textContent = `Done: ${keys.toLocaleString("en")} keys in ${seconds} s.`;
    } catch (error) {
      status.textContent = `The benchmark failed: ${messageOf(error)}`;
    } finally {
      button.disabled = false;
    }
  });
}
