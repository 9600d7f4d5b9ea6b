// The benchmark matrix: key distributions x operations x sizes x implementations, interleaved,
// with the Zipf hit ratios, memory per entry, heap growth, the call breakdown and the targets.
import { parseArgs } from "node:util";
import { do_not_optimize } from "mitata";
import { callBreakdown } from "./calls.js";
import { interleave, type Log, logger, machine, median, nsPerCall, repeat, timeCall, writeResults } from "./harness.js";
import { type KeySet, makeUniverse, pick, prng, sample, type Universe } from "./keys.js";
import { measureMemory } from "./memory.js";
import { NativeTable } from "./native.js";
import { type Contender, createContender, MAX_KEYS_PER_CALL } from "./peers.js";
import { renderChart, renderMarkdown, renderTerminal } from "./report.js";
import {
  CONTENDERS,
  type CoreResults,
  DISTRIBUTIONS,
  type Distribution,
  IMPLS,
  type Impl,
  type MatrixRow,
  NATIVES,
  type NativeId,
  type Op,
  PARTS,
  PASSES,
  type Part,
  type Pass,
  type Settings,
  type TableBytes,
  type ZipfRow,
} from "./results.js";
import { anchorTargets, issue4Targets } from "./targets.js";
import { BenchCheckError, checkDeleteInsert, checkReads, checkSize, checkTimedLookups } from "./verify.js";
import { compulsoryHitRatio, zipfStream } from "./zipf.js";

const ZIPF_S = 0.9;
const ZIPF_FRACTIONS = [0.01, 0.05, 0.1];
// The batch API is left out: a batch looks up 1024 keys before inserting its misses, another policy.
const ZIPF_IDS = ["single", "lru-cache", "mnemonist", "lru.min"] as const;
/** The exact-LRU peers: on one stream they must hit exactly as often as each other. */
const EXACT_LRU = ["lru-cache", "mnemonist", "lru.min"] as const;

function list<T extends string>(option: string, value: string, known: readonly T[]): T[] {
  return value.split(",").map((v) => {
    if (!(known as readonly string[]).includes(v))
      throw new RangeError(`--${option}: ${JSON.stringify(v)} is not one of ${known.join(", ")}`);
    return v as T;
  });
}

function settingsFrom(args: string[]): Settings & { json: boolean; out: string | undefined } {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      out: { type: "string" },
      sizes: { type: "string" },
      dists: { type: "string" },
      impls: { type: "string" },
      parts: { type: "string" },
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
  const seed = Number(process.env.BENCH_SEED ?? 0);
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`BENCH_SEED: ${process.env.BENCH_SEED} is not an integer >= 0`);
  const rounds = Number(values.rounds ?? (quick ? 2 : 5));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50)
    throw new RangeError(`--rounds: ${values.rounds} is not an integer from 1 to 50`);
  return {
    json: values.json === true,
    out: values.out,
    quick,
    seed,
    dists: list("dists", values.dists ?? DISTRIBUTIONS.join(","), DISTRIBUTIONS),
    sizes,
    impls: list("impls", values.impls ?? IMPLS.join(","), IMPLS),
    parts: list("parts", values.parts ?? PARTS.join(","), PARTS),
    rounds,
    minSamples: quick ? 2 : 5,
    minMs: quick ? 2 : 20,
    minOpsPerCall: quick ? 4096 : 16384,
    maxKeysPerCall: quick ? 8192 : MAX_KEYS_PER_CALL,
    subset: quick ? 2048 : 16384,
    churn: quick ? 2048 : 16384,
    zipfRequests: sizes.map((n) =>
      quick ? Math.min(20 * n, 100_000) : Math.min(Math.max(100 * n, 100_000), 1_000_000),
    ),
    memoryEntries: 65536,
    heapLookups: quick ? 1_000_000 : 10_000_000,
    callKeys: quick ? 4096 : 65536,
  };
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

/** One implementation as one round of the matrix runs it: the timed passes of that round, per operation. */
interface Runner {
  impl: Impl;
  round(): Promise<Partial<Record<Op, number[]>>>;
}

/** A JS implementation's round: the pass sequence once untimed, then timed until the budget is spent. */
function contenderRunner(c: Contender, keys: Record<Pass, KeySet>, s: Settings): Runner {
  const passes: Record<Pass, () => number> = {
    hit: () => c.hit(keys.hit),
    miss: () => c.miss(keys.miss),
    delete: () => c.remove(keys.delete),
    insert: () => c.insert(keys.insert),
  };
  return {
    impl: c.id,
    async round() {
      for (const pass of PASSES) do_not_optimize(passes[pass]());
      const samples: Record<Pass, number[]> = { hit: [], miss: [], delete: [], insert: [] };
      repeat(s, () => {
        for (const pass of PASSES) samples[pass].push(timeCall(passes[pass], c.manual) / keys[pass].length);
      });
      return samples;
    },
  };
}

/** A native table's round: one fresh process that fills, runs the sequence once untimed, then timed (harness.c). */
function nativeRunner(
  table: NativeTable,
  path: string,
  want: Record<string, number>,
  s: Settings,
  bytes: (b: number) => void,
): Runner {
  return {
    impl: table.id,
    async round() {
      const o = await table.ops(path, s.minSamples, s.minMs);
      // Each churn set evicts, or updates a key the table still held (see the churn below).
      const sets = o.churn.length === 0 ? 0 : (o.churn.length + 1) * s.churn;
      const expected = { ...want, churnEvictions: sets - o.check.churnUpdates };
      for (const [name, value] of Object.entries(expected)) {
        const got = o.check[name as keyof typeof o.check];
        if (got !== value) throw new BenchCheckError(`${table.id}: ${name} is ${got}, expected ${value}`);
      }
      bytes(o.bytes);
      const { hit, miss, delete: remove, insert, churn } = o;
      return { hit, miss, delete: remove, insert, ...(churn.length > 0 ? { churn } : {}) };
    },
  };
}

async function runCell(
  dist: Distribution,
  size: number,
  s: Settings,
  building: Promise<NativeTable[]>,
  log: Log,
): Promise<{ rows: MatrixRow[]; bytes: TableBytes[] }> {
  const label = `${dist} ${size.toLocaleString("en-US")}`;
  log(`${label}: keys`);
  const next = prng(s.seed + size * 7 + DISTRIBUTIONS.indexOf(dist));
  const universe = makeUniverse(dist, 2 * size, size, s.seed + size + 11);
  const distinct = Math.min(size, s.maxKeysPerCall);
  const perCall = Math.min(Math.max(distinct, s.minOpsPerCall), s.maxKeysPerCall);
  const hit = pick(universe, sample(0, size, distinct, perCall, next));
  const miss = pick(universe, sample(size, 2 * size, distinct, perCall, next));
  const subsetCount = Math.min(s.subset, size >> 1);
  const subset = pick(universe, sample(0, size, subsetCount, subsetCount, next));
  const poolIdx = new Uint32Array(2 * size + s.churn);
  for (let i = 0; i < poolIdx.length; i++) poolIdx[i] = i % (2 * size);
  const pool = pick(universe, poolIdx);
  const keys: Record<Pass, KeySet> = { hit, miss, delete: subset, insert: subset };

  log(`${label}: fill and check`);
  const bytes: TableBytes[] = [];
  const contenders: Contender[] = [];
  for (const id of CONTENDERS) {
    if (!s.impls.includes(id)) continue;
    const c = await createContender(id, universe, size);
    c.fill();
    checkSize(c, size, "after fill");
    checkReads(c, hit, true, "after fill");
    checkReads(c, miss, false, "after fill");
    checkTimedLookups(c, hit, miss);
    checkDeleteInsert(c, subset, size);
    if (c.tableBytes) bytes.push({ dist, size, impl: "wasm", bytes: c.tableBytes() });
    contenders.push(c);
  }
  const want = {
    hitChecksum: checksum(hit),
    hitFound: hit.length,
    missFound: 0,
    sizeAfterDelete: size - subset.length,
    subsetFoundAfterDelete: 0,
    sizeAfterInsert: size,
    sizeAfterChurn: size,
  };
  const runners: Runner[] = contenders.map((c) => contenderRunner(c, keys, s));
  for (const table of await building) {
    const path = table.write({
      live: size,
      keys: universe.u64,
      hit: hit.idx,
      miss: miss.idx,
      subset: subset.idx,
      churn: s.churn,
    });
    runners.push(
      nativeRunner(table, path, want, s, (b) => {
        if (!bytes.some((r) => r.impl === table.id)) bytes.push({ dist, size, impl: table.id, bytes: b });
      }),
    );
  }

  const samples = new Map<string, number[]>();
  const record = (impl: Impl, op: Op, ns: number) => {
    const key = `${impl}/${op}`;
    samples.set(key, [...(samples.get(key) ?? []), ns]);
  };
  await interleave(runners, s.rounds, async (runner, r) => {
    if (runner === runners[0]) log(`${label}: round ${r + 1}/${s.rounds}`);
    for (const [op, ns] of Object.entries(await runner.round())) record(runner.impl, op as Op, median(ns));
  });
  for (const c of contenders) {
    checkSize(c, size, "after the timed rounds");
    checkReads(c, hit, true, "after the timed rounds");
  }

  // Churn last: it replaces the live keys. Each set is of a key set 2 * size sets before; a CLOCK
  // cache may still hold a few (hit checks set their bits), and setting one again marks it used.
  const churners = contenders.filter((c) => c.churn);
  const at = new Map<Contender, number>(churners.map((c) => [c, size]));
  await interleave(churners, s.rounds, (c, r) => {
    if (c === churners[0]) log(`${label}: churn round ${r + 1}/${s.rounds}`);
    const churn = () => {
      const from = at.get(c)!;
      c.churn!(pool, from, s.churn);
      at.set(c, (from + s.churn) % (2 * size));
      return 0;
    };
    record(c.id, "churn", nsPerCall(churn, s) / s.churn);
  });
  for (const c of churners) {
    checkSize(c, size, "after churn");
    checkReads(c, newestKeys(universe, at.get(c)!, Math.min(size, s.churn)), true, "after churn (the newest keys)");
  }

  const rows: MatrixRow[] = [];
  for (const [key, rounds] of samples) {
    const [impl, op] = key.split("/") as [Impl, Op];
    rows.push({ dist, size, op, impl, ns: median(rounds), rounds });
  }
  return { rows, bytes };
}

async function runZipf(
  size: number,
  requests: number,
  s: Settings,
  twin: NativeTable | undefined,
  log: Log,
): Promise<{ rows: ZipfRow[]; bound: number }> {
  log(`zipf ${size.toLocaleString("en-US")}: stream`);
  const universe = makeUniverse("slab", 2 * size, size, s.seed + size + 11);
  const streamIdx = zipfStream(size, ZIPF_S, requests, s.seed + size + 5);
  const stream = pick(universe, streamIdx);
  const bound = compulsoryHitRatio(streamIdx);
  const capacities = ZIPF_FRACTIONS.map((f) => Math.max(1, Math.round(size * f)));
  const rows: ZipfRow[] = [];
  for (const [f, fraction] of ZIPF_FRACTIONS.entries()) {
    log(`zipf ${size.toLocaleString("en-US")}: ${fraction * 100}%`);
    for (const id of ZIPF_IDS) {
      if (!s.impls.includes(id)) continue;
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
  if (twin) {
    const none = new Uint32Array(0);
    const path = twin.write({
      live: size,
      keys: universe.u64,
      hit: none,
      miss: none,
      subset: none,
      churn: 0,
      zipf: streamIdx,
      capacities,
    });
    for (const [f, z] of (await twin.zipf(path)).zipf.entries()) {
      const fraction = ZIPF_FRACTIONS[f]!;
      rows.push({
        keys: size,
        requests,
        fraction,
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
    if (twin && hitsOf("single") !== undefined && hitsOf("native") !== hitsOf("single")) {
      throw new BenchCheckError(
        `zipf ${size} at ${fraction}: native CLOCK hit ${hitsOf("native")} times, the same CLOCK in wasm ${hitsOf("single")}`,
      );
    }
  }
  return { rows, bound };
}

/** Builds the native tables `impls` names, in parallel; a table that cannot be built is skipped with the reason. */
async function buildNatives(
  impls: Impl[],
  log: Log,
): Promise<{ tables: NativeTable[]; how: Record<NativeId, string> }> {
  const how = { native: "not run", absl: "not run" } as Record<NativeId, string>;
  const wanted = NATIVES.filter((id) => impls.includes(id));
  const built = await Promise.all(wanted.map((id) => NativeTable.build(id)));
  const tables: NativeTable[] = [];
  for (const [i, id] of wanted.entries()) {
    const t = built[i]!;
    if (typeof t === "string") {
      how[id] = `skipped: ${t}`;
      log(`${id} skipped: ${t}`);
    } else {
      how[id] = id === "native" ? `${process.env.CC ?? "cc"} -O2` : `${process.env.CXX ?? "g++"} -O2`;
      tables.push(t);
    }
  }
  return { tables, how };
}

/**
 * Runs the matrix; `--quick` for a short run that checks every implementation, `--json` for JSON
 * on stdout, `--out DIR` for where bench.{json,md,svg} go, `--impls`/`--parts`/`--sizes`/`--dists` to run less.
 */
export async function main(args: string[]): Promise<void> {
  const { json, out, ...s } = settingsFrom(args);
  const log = logger("bench");
  const wants = (part: Part) => s.parts.includes(part);
  // Compiled while the first cell makes its keys and checks its implementations.
  const building = buildNatives(wants("matrix") || wants("zipf") ? s.impls : [], log);
  const tablesBuilt = building.then((b) => b.tables);
  try {
    const matrix: MatrixRow[] = [];
    const tableBytes: TableBytes[] = [];
    for (const size of wants("matrix") ? s.sizes : []) {
      for (const dist of s.dists) {
        const cell = await runCell(dist, size, s, tablesBuilt, log);
        matrix.push(...cell.rows);
        tableBytes.push(...cell.bytes);
      }
    }
    const zipf: ZipfRow[] = [];
    const zipfBound: CoreResults["zipfBound"] = [];
    const { tables, how } = await building;
    for (const [i, size] of (wants("zipf") ? s.sizes : []).entries()) {
      const twin = tables.find((t) => t.id === "native");
      const { rows, bound } = await runZipf(size, s.zipfRequests[i]!, s, twin, log);
      zipf.push(...rows);
      zipfBound.push({ keys: size, hitRatio: bound });
    }
    let calls: CoreResults["calls"];
    if (wants("calls")) {
      log("call breakdown (two child processes)");
      calls = callBreakdown(s.memoryEntries, s.callKeys, s.rounds, s, s.seed);
    }
    const natives = Object.fromEntries(
      tableBytes
        .filter((b) => b.impl !== "wasm" && b.size === s.memoryEntries && b.dist === "slab")
        .map((b) => [b.impl, b.bytes]),
    );
    let memory: CoreResults["memory"] = [];
    let heap: CoreResults["heap"] = [];
    if (wants("memory")) {
      log("memory per entry and heap growth (child process)");
      ({ memory, heap } = measureMemory(s.memoryEntries, s.heapLookups, natives, s.quick ? 1 : undefined));
    }
    const partial = {
      machine: machine(),
      settings: s,
      natives: how,
      matrix,
      tableBytes,
      zipf,
      zipfBound,
      memory,
      heap,
      calls,
    };
    const results: CoreResults = { ...partial, targets: issue4Targets(partial), anchorTargets: anchorTargets(partial) };
    const written = writeResults(out, {
      "bench.json": `${JSON.stringify(results, null, 2)}\n`,
      "bench.md": renderMarkdown(results),
      "bench.svg": renderChart(results),
    });
    if (json) process.stdout.write(`${JSON.stringify(results)}\n`);
    else process.stdout.write(renderTerminal(results));
    log(`done; wrote ${written.join(", ")}`);
  } finally {
    for (const t of (await building).tables) t.dispose();
  }
}
