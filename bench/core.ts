// The benchmark matrix: key distributions x operations x sizes x implementations, interleaved,
// with the Zipf hit ratios, memory per entry, heap growth and the targets.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { do_not_optimize } from "mitata";
import {
  DISTRIBUTIONS,
  type Distribution,
  type KeySet,
  makeUniverse,
  pick,
  prng,
  sample,
  type Universe,
} from "./keys.js";
import { type HeapGrowth, type MemoryRow, measureMemory } from "./memory.js";
import { NativeReference } from "./native.js";
import { CONTENDERS, type Contender, type ContenderId, createContender, MAX_KEYS_PER_CALL } from "./peers.js";
import { renderChart, renderMarkdown, renderTerminal, type Target } from "./report.js";
import { BenchCheckError, checkDeleteInsert, checkReads, checkSize, checkTimedLookups } from "./verify.js";
import { compulsoryHitRatio, zipfStream } from "./zipf.js";

/** Operations of the matrix, in table order. */
export const OPS = ["insert", "hit", "miss", "delete", "churn"] as const;

/** One operation of the matrix. */
export type Op = (typeof OPS)[number];

/** An implementation of the matrix, the native reference included. */
export type Impl = ContenderId | "native";

/** Median ns/op of one implementation, operation and cell, with the per-round figures. */
export interface MatrixRow {
  dist: Distribution;
  size: number;
  op: Op;
  impl: Impl;
  ns: number;
  rounds: number[];
}

/** Hits of one implementation on one Zipf stream at one capacity. */
export interface ZipfRow {
  keys: number;
  requests: number;
  fraction: number;
  capacity: number;
  impl: Impl;
  hits: number;
  hitRatio: number;
  /** ns per get-or-insert, from one pass (indicative). */
  ns: number;
}

/** Everything one run measured. */
export interface CoreResults {
  machine: Record<string, string | number>;
  settings: Settings;
  native: string;
  matrix: MatrixRow[];
  zipf: ZipfRow[];
  /** The hit ratio of an unbounded cache on each stream (an upper bound for every row). */
  zipfBound: { keys: number; hitRatio: number }[];
  memory: MemoryRow[];
  heap: HeapGrowth[];
  targets: Target[];
}

/** How much to run. */
export interface Settings {
  quick: boolean;
  dists: Distribution[];
  sizes: number[];
  rounds: number;
  minSamples: number;
  minMs: number;
  minOpsPerCall: number;
  maxKeysPerCall: number;
  subset: number;
  churn: number;
  nativeReps: number;
  zipfRequests: number[];
  memoryEntries: number;
  heapLookups: number;
}

const ZIPF_S = 0.9;
const ZIPF_FRACTIONS = [0.01, 0.05, 0.1];
// The batch API is left out: a batch looks up 1024 keys before inserting its misses, another policy.
const ZIPF_IDS = ["single", "lru-cache", "mnemonist", "lru.min"] as const;
/** The exact-LRU peers: on one stream they must hit exactly as often as each other. */
const EXACT_LRU = ["lru-cache", "mnemonist", "lru.min"] as const;

function settingsFrom(args: string[]): Settings & { json: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      sizes: { type: "string" },
      dists: { type: "string" },
      rounds: { type: "string" },
    },
  });
  const quick = values.quick === true;
  const sizes = (values.sizes ?? (quick ? "1000,65536" : "1000,65536,1000000")).split(",").map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 16 || n > 4_000_000)
      throw new RangeError(`--sizes: ${JSON.stringify(s)} is not an integer from 16 to 4000000`);
    return n;
  });
  const dists = (values.dists ?? DISTRIBUTIONS.join(",")).split(",").map((d) => {
    if (!(DISTRIBUTIONS as readonly string[]).includes(d))
      throw new RangeError(`--dists: ${JSON.stringify(d)} is not one of ${DISTRIBUTIONS.join(", ")}`);
    return d as Distribution;
  });
  const rounds = Number(values.rounds ?? (quick ? 2 : 5));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50)
    throw new RangeError(`--rounds: ${values.rounds} is not an integer from 1 to 50`);
  return {
    json: values.json === true,
    quick,
    dists,
    sizes,
    rounds,
    minSamples: quick ? 2 : 5,
    minMs: quick ? 2 : 20,
    minOpsPerCall: quick ? 4096 : 16384,
    maxKeysPerCall: quick ? 8192 : MAX_KEYS_PER_CALL,
    subset: quick ? 2048 : 16384,
    churn: quick ? 2048 : 16384,
    nativeReps: quick ? 1 : 5,
    zipfRequests: sizes.map((n) =>
      quick ? Math.min(20 * n, 100_000) : Math.min(Math.max(100 * n, 100_000), 1_000_000),
    ),
    memoryEntries: 65536,
    heapLookups: quick ? 1_000_000 : 10_000_000,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

// By hand, not mitata's measure(): that allocates a 2^20-slot sample array and compiles a loop
// per call (0.1-0.2 s each here), too slow for the hundreds of short interleaved rounds below.
function nsPerOp(run: () => number, perCall: number, manual: boolean, s: Settings, setup?: () => void): number {
  setup?.();
  do_not_optimize(run()); // warm-up call
  const samples: number[] = [];
  const started = performance.now();
  while (samples.length < s.minSamples || performance.now() - started < s.minMs) {
    setup?.();
    const t0 = performance.now();
    const result = run();
    const elapsed = (performance.now() - t0) * 1e6;
    do_not_optimize(result);
    samples.push(manual ? result : elapsed);
  }
  return median(samples) / perCall;
}

function checksum(keys: KeySet): number {
  let acc = 0;
  for (let i = 0; i < keys.ids.length; i++) acc = (Math.imul(acc, 31) + keys.ids[i]!) >>> 0;
  return acc;
}

/** The `count` keys churn inserted last, before pool position `end` (pool position p holds key number p mod 2 * live). */
function newestKeys(universe: Universe, end: number, count: number): KeySet {
  const all = 2 * universe.live;
  const idx = new Uint32Array(count);
  for (let i = 0; i < count; i++) idx[i] = (((end - 1 - i) % all) + all) % all;
  return pick(universe, idx);
}

type Log = (message: string) => void;

async function runCell(
  dist: Distribution,
  size: number,
  s: Settings,
  native: NativeReference | undefined,
  log: Log,
): Promise<{ rows: MatrixRow[]; nativeBytes?: number }> {
  const label = `${dist} ${size.toLocaleString("en-US")}`;
  log(`${label}: keys`);
  const next = prng(size * 7 + DISTRIBUTIONS.indexOf(dist));
  const universe = makeUniverse(dist, 2 * size, size, size + 11);
  const distinct = Math.min(size, s.maxKeysPerCall);
  const perCall = Math.min(Math.max(distinct, s.minOpsPerCall), s.maxKeysPerCall);
  const hit = pick(universe, sample(0, size, distinct, perCall, next));
  const miss = pick(universe, sample(size, 2 * size, distinct, perCall, next));
  const subsetCount = Math.min(s.subset, size >> 1);
  const subset = pick(universe, sample(0, size, subsetCount, subsetCount, next));
  const poolIdx = new Uint32Array(2 * size + s.churn);
  for (let i = 0; i < poolIdx.length; i++) poolIdx[i] = i % (2 * size);
  const pool = pick(universe, poolIdx);

  log(`${label}: fill and check`);
  const contenders: Contender[] = [];
  for (const id of CONTENDERS) {
    const c = await createContender(id, universe, size);
    c.fill();
    checkSize(c, size, "after fill");
    checkReads(c, hit, true, "after fill");
    checkReads(c, miss, false, "after fill");
    checkTimedLookups(c, hit, miss);
    checkDeleteInsert(c, subset, size);
    contenders.push(c);
  }
  const path = native?.write({
    live: size,
    keys: universe.u64,
    hit: hit.idx,
    miss: miss.idx,
    subset: subset.idx,
    churn: s.churn,
  });

  let nativeBytes: number | undefined;
  const samples = new Map<string, number[]>();
  const record = (impl: Impl, op: Op, ns: number) => {
    const key = `${impl}/${op}`;
    samples.set(key, [...(samples.get(key) ?? []), ns]);
  };
  const present = new Map<Contender, boolean>(contenders.map((c) => [c, true]));
  const ensure = (c: Contender, want: boolean) => {
    if (present.get(c) === want) return;
    if (want) c.insert!(subset);
    else c.remove!(subset);
    present.set(c, want);
  };
  for (let r = 0; r < s.rounds; r++) {
    log(`${label}: round ${r + 1}/${s.rounds}`);
    const order = rotate(contenders, r);
    for (const c of order)
      record(
        c.id,
        "hit",
        nsPerOp(() => c.hit(hit), hit.length, c.manual, s),
      );
    for (const c of order)
      record(
        c.id,
        "miss",
        nsPerOp(() => c.miss(miss), miss.length, c.manual, s),
      );
    for (const c of order) {
      if (!c.remove) continue;
      const remove = () => {
        c.remove!(subset);
        present.set(c, false);
        return 0;
      };
      record(
        c.id,
        "delete",
        nsPerOp(remove, subset.length, false, s, () => ensure(c, true)),
      );
    }
    for (const c of order) {
      if (!c.insert) continue;
      const insert = () => {
        c.insert!(subset);
        present.set(c, true);
        return 0;
      };
      record(
        c.id,
        "insert",
        nsPerOp(insert, subset.length, false, s, () => ensure(c, false)),
      );
    }
    if (native && path) {
      const o = native.ops(path, s.nativeReps);
      const k = o.check;
      const want = {
        hitChecksum: checksum(hit),
        hitFound: hit.length,
        missFound: 0,
        sizeAfterDelete: size - subset.length,
        subsetFoundAfterDelete: 0,
        sizeAfterInsert: size,
        sizeAfterChurn: size,
        churnEvictions: s.nativeReps * s.churn,
      };
      for (const [name, value] of Object.entries(want)) {
        if (k[name as keyof typeof k] !== value)
          throw new BenchCheckError(`native C: ${name} is ${k[name as keyof typeof k]}, expected ${value}`);
      }
      for (const op of OPS) record("native", op, median(o[op]));
      nativeBytes = o.bytes;
    }
  }
  for (const c of contenders) {
    ensure(c, true);
    checkSize(c, size, "after the timed rounds");
    checkReads(c, hit, true, "after the timed rounds");
  }

  // Churn last: it replaces the live keys. Every insert is of a key evicted 2 * size inserts ago.
  const churners = contenders.filter((c) => c.churn);
  const at = new Map<Contender, number>(churners.map((c) => [c, size]));
  for (let r = 0; r < s.rounds; r++) {
    log(`${label}: churn round ${r + 1}/${s.rounds}`);
    for (const c of rotate(churners, r)) {
      const churn = () => {
        const from = at.get(c)!;
        c.churn!(pool, from, s.churn);
        at.set(c, (from + s.churn) % (2 * size));
        return 0;
      };
      record(c.id, "churn", nsPerOp(churn, s.churn, false, s));
    }
  }
  for (const c of churners) {
    checkSize(c, size, "after churn");
    checkReads(c, newestKeys(universe, at.get(c)!, Math.min(size, s.churn)), true, "after churn (the newest keys)");
  }

  const rows: MatrixRow[] = [];
  for (const [key, rounds] of samples) {
    const [impl, op] = key.split("/") as [Impl, Op];
    rows.push({ dist, size, op, impl, ns: median(rounds), rounds });
  }
  return { rows, nativeBytes };
}

async function runZipf(
  size: number,
  requests: number,
  native: NativeReference | undefined,
  log: Log,
): Promise<{ rows: ZipfRow[]; bound: number }> {
  log(`zipf ${size.toLocaleString("en-US")}: stream`);
  const universe = makeUniverse("slab", 2 * size, size, size + 11);
  const streamIdx = zipfStream(size, ZIPF_S, requests, size + 5);
  const stream = pick(universe, streamIdx);
  const bound = compulsoryHitRatio(streamIdx);
  const capacities = ZIPF_FRACTIONS.map((f) => Math.max(1, Math.round(size * f)));
  const rows: ZipfRow[] = [];
  for (const [f, fraction] of ZIPF_FRACTIONS.entries()) {
    log(`zipf ${size.toLocaleString("en-US")}: ${fraction * 100}%`);
    for (const id of ZIPF_IDS) {
      const c = await createContender(id, universe, capacities[f]!);
      const t0 = performance.now();
      const hits = c.zipf!(stream);
      const ns = ((performance.now() - t0) * 1e6) / requests;
      rows.push({
        keys: size,
        requests,
        fraction,
        capacity: capacities[f]!,
        impl: id,
        hits,
        hitRatio: hits / requests,
        ns,
      });
    }
  }
  if (native) {
    const none = new Uint32Array(0);
    const path = native.write({
      live: size,
      keys: universe.u64,
      hit: none,
      miss: none,
      subset: none,
      churn: 0,
      zipf: streamIdx,
      capacities,
    });
    for (const [f, z] of native.zipf(path).zipf.entries()) {
      rows.push({
        keys: size,
        requests,
        fraction: ZIPF_FRACTIONS[f]!,
        capacity: z.capacity,
        impl: "native",
        hits: z.hits,
        hitRatio: z.hits / requests,
        ns: z.ns,
      });
    }
  }
  for (const fraction of ZIPF_FRACTIONS) {
    const at = rows.filter((r) => r.fraction === fraction);
    const hitsOf = (impl: Impl) => at.find((r) => r.impl === impl)?.hits;
    for (const r of at) {
      if (!(r.hitRatio >= 0 && r.hitRatio <= bound)) {
        throw new BenchCheckError(
          `zipf ${size} at ${fraction}: ${r.impl} hit ratio ${r.hitRatio} outside [0, ${bound}] (an unbounded cache's)`,
        );
      }
    }
    for (const impl of EXACT_LRU) {
      if (hitsOf(impl) !== hitsOf("lru-cache"))
        throw new BenchCheckError(
          `zipf ${size} at ${fraction}: exact LRU ${impl} hit ${hitsOf(impl)} times, lru-cache ${hitsOf("lru-cache")}`,
        );
    }
    if (native && hitsOf("native") !== hitsOf("single")) {
      throw new BenchCheckError(
        `zipf ${size} at ${fraction}: native CLOCK hit ${hitsOf("native")} times, the same CLOCK in wasm ${hitsOf("single")}`,
      );
    }
  }
  return { rows, bound };
}

function cell(rows: MatrixRow[], impl: Impl, op: Op, size: number, dist: Distribution): number | undefined {
  return rows.find((r) => r.impl === impl && r.op === op && r.size === size && r.dist === dist)?.ns;
}

function targets(results: Omit<CoreResults, "targets">): Target[] {
  const at = (impl: Impl, op: Op) => cell(results.matrix, impl, op, 65536, "slab");
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? undefined : a / b;
  const ours = results.memory.find((m) => m.id === "batch");
  const batchedHeap = results.heap.find((h) => h.api === "getMany");
  const zipfMargins = results.zipf
    .filter((z) => z.impl === "single")
    .map(
      (z) =>
        z.hitRatio -
        (results.zipf.find((l) => l.impl === "lru-cache" && l.keys === z.keys && l.fraction === z.fraction)?.hitRatio ??
          Number.NaN),
    );
  const worstZipf = zipfMargins.length ? Math.min(...zipfMargins) : undefined;
  const list: Omit<Target, "met">[] = [
    {
      name: "batched lookup hit vs Map<bigint, Uint8Array>",
      goal: ">= 15x faster",
      value: ratio(at("map-bigint", "hit"), at("batch", "hit")),
      unit: "x",
      higherIsBetter: true,
      threshold: 15,
    },
    {
      name: "single-call lookup hit vs Map<bigint, Uint8Array>",
      goal: ">= 3x faster",
      value: ratio(at("map-bigint", "hit"), at("single", "hit")),
      unit: "x",
      higherIsBetter: true,
      threshold: 3,
    },
    {
      name: "wasm-side batched lookup vs native C",
      goal: "<= 1.25x native",
      value: ratio(at("wasm", "hit"), at("native", "hit")),
      unit: "x",
      higherIsBetter: false,
      threshold: 1.25,
    },
    {
      name: "eviction churn (setMany) vs lru-cache",
      goal: ">= 5x faster",
      value: ratio(at("lru-cache", "churn"), at("batch", "churn")),
      unit: "x",
      higherIsBetter: true,
      threshold: 5,
    },
    {
      name: "eviction churn (single set) vs lru-cache",
      goal: ">= 5x faster",
      value: ratio(at("lru-cache", "churn"), at("single", "churn")),
      unit: "x",
      higherIsBetter: true,
      threshold: 5,
    },
    {
      name: "bytes per live entry, everything included",
      goal: "<= 48",
      value: ours?.perEntry,
      unit: "B",
      higherIsBetter: false,
      threshold: 48,
    },
    {
      name: "Zipf hit ratio minus lru-cache's (worst stream)",
      goal: ">= 0",
      value: worstZipf,
      unit: "",
      higherIsBetter: true,
      threshold: 0,
    },
    // Below one byte per thousand lookups counts as zero: a full GC leaves a few KB of noise.
    {
      name: `JS heap growth over ${(batchedHeap?.lookups ?? 0).toLocaleString("en-US")} batched lookups`,
      goal: "0 (< 1 B per 1000 lookups)",
      value: batchedHeap?.growth,
      unit: "B",
      higherIsBetter: false,
      threshold: (batchedHeap?.lookups ?? 0) / 1000,
    },
  ];
  return list.map((t) => ({
    ...t,
    met: t.value === undefined ? undefined : t.higherIsBetter ? t.value >= t.threshold : t.value <= t.threshold,
  }));
}

function machine(): Record<string, string | number> {
  const cpu = cpus();
  let cc = "none";
  try {
    cc = execFileSync(process.env.CC ?? "cc", ["--version"], { encoding: "utf8" }).split("\n")[0]!;
  } catch {
    // no compiler: the native row is skipped and says why
  }
  return {
    cpu: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    v8: process.versions.v8,
    cc,
    date: new Date().toISOString(),
  };
}

/** Runs the matrix; `--quick` for a short run that checks every implementation, `--json` for JSON on stdout. */
export async function main(args: string[]): Promise<void> {
  const s = settingsFrom(args);
  const { json, ...settings } = s;
  const started = performance.now();
  const log: Log = (message) =>
    process.stderr.write(`bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s: ${message}\n`);
  const native = NativeReference.build();
  const nativeRef = typeof native === "string" ? undefined : native;
  if (typeof native === "string") log(`native C reference skipped: ${native}`);
  try {
    const matrix: MatrixRow[] = [];
    let nativeBytes: number | undefined;
    for (const size of s.sizes) {
      for (const dist of s.dists) {
        const cellResult = await runCell(dist, size, settings, nativeRef, log);
        matrix.push(...cellResult.rows);
        if (size === s.memoryEntries && dist === "slab") nativeBytes = cellResult.nativeBytes;
      }
    }
    const zipf: ZipfRow[] = [];
    const zipfBound: CoreResults["zipfBound"] = [];
    for (const [i, size] of s.sizes.entries()) {
      const { rows, bound } = await runZipf(size, s.zipfRequests[i]!, nativeRef, log);
      zipf.push(...rows);
      zipfBound.push({ keys: size, hitRatio: bound });
    }
    log("memory per entry and heap growth (child process)");
    const { memory, heap } = measureMemory(s.memoryEntries, s.heapLookups, nativeBytes);
    const partial = {
      machine: machine(),
      settings,
      native: typeof native === "string" ? `skipped: ${native}` : "cc -O2",
      matrix,
      zipf,
      zipfBound,
      memory,
      heap,
    };
    const results: CoreResults = { ...partial, targets: targets(partial) };
    const dir = new URL("./results/", import.meta.url);
    mkdirSync(dir, { recursive: true });
    writeFileSync(new URL("bench.json", dir), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(new URL("bench.md", dir), renderMarkdown(results));
    writeFileSync(new URL("bench.svg", dir), renderChart(results));
    if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
    else process.stdout.write(renderTerminal(results));
    log("done; wrote bench/results/bench.{json,md,svg}");
  } finally {
    nativeRef?.dispose();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
