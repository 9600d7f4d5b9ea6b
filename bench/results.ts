// What a benchmark run measures: the implementations, the operations, and the result types the
// sections produce and bench/report.ts renders. Types and names only: no timing, no formatting.
import type { HeapGrowth, MemoryRow } from "./memory.js";

/** The implementations run in this process, in table order (see bench/peers.ts). */
export const CONTENDERS = [
  "batch",
  "single",
  "wasm",
  "map-bigint",
  "map-number",
  "lru-cache",
  "mnemonist",
  "lru.min",
] as const;

/** One implementation run in this process. */
export type ContenderId = (typeof CONTENDERS)[number];

/** The native tables, each built by the bench and run in a child process (see bench/native.ts). */
export const NATIVES = ["native", "absl"] as const;

/** One native table: the core's C twin, or absl::flat_hash_map. */
export type NativeId = (typeof NATIVES)[number];

/** Any implementation of the matrix. */
export type Impl = ContenderId | NativeId;

/** Every implementation, in table order. */
export const IMPLS: readonly Impl[] = ["batch", "single", "wasm", "native", "absl", ...CONTENDERS.slice(3)];

/** Row labels of the implementations. */
export const LABELS: Record<Impl, string> = {
  batch: "buildid-cache batch (getMany/setMany)",
  single: "buildid-cache single (getBytes/set)",
  wasm: "core inside wasm (lookupMany/insertMany/removeMany)",
  native: "native C, same layout (cc -O2)",
  absl: "absl::flat_hash_map (g++ -O2)",
  "map-bigint": "Map<bigint, Uint8Array>",
  "map-number": "Map<number, Uint8Array> (48-bit keys)",
  "lru-cache": "lru-cache LRUCache",
  mnemonist: "mnemonist LRUCache(WithDelete)",
  "lru.min": "lru.min createLRU",
};

/** Operations of the matrix, in table order. */
export const OPS = ["insert", "hit", "miss", "delete", "churn"] as const;

/** One operation of the matrix. */
export type Op = (typeof OPS)[number];

/**
 * The passes every implementation runs, in this order, once untimed and then timed, in every
 * round: from a full table, back to a full table. Churn runs after all rounds (it replaces the keys).
 */
export const PASSES = ["hit", "miss", "delete", "insert"] as const satisfies readonly Op[];

/** One of the passes. */
export type Pass = (typeof PASSES)[number];

/** The key distributions of the matrix. */
export const DISTRIBUTIONS = ["sequential", "slab", "random"] as const;

/** One key distribution: sequential integers, slab-like inode addresses, or random 64-bit values. */
export type Distribution = (typeof DISTRIBUTIONS)[number];

/** Median ns/op of one implementation, operation and cell, with the figure of each round. */
export interface MatrixRow {
  dist: Distribution;
  size: number;
  op: Op;
  impl: Impl;
  ns: number;
  /** One figure per round, in round order (the median of that round's timed passes). */
  rounds: number[];
}

/** Bytes a table holds for one cell's live entries: linear memory, or what the native table allocated. */
export interface TableBytes {
  dist: Distribution;
  size: number;
  impl: "wasm" | NativeId;
  bytes: number;
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

/** A median with the least and the most of the figures it is the median of. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The variants of one single-key call, each adding one part to the one before it. */
export const CALLS = ["boundary", "lookup", "copy", "checked", "getBytes", "twoCaches", "hex", "get", "map"] as const;

/** One variant of the call breakdown. */
export type Call = (typeof CALLS)[number];

/** ns per call of one variant of the call breakdown, over the rounds. */
export interface CallRow {
  call: Call;
  ns: Spread;
  rounds: number[];
}

/** The call breakdown: one-key calls on a table of `size` live entries, `keys` distinct hits per pass. */
export interface CallResults {
  size: number;
  keys: number;
  rows: CallRow[];
}

/** One target, with what was measured. */
export interface Target {
  name: string;
  goal: string;
  value: number | undefined;
  /** Least and most per-round figure, where the value is a median of per-round ratios. */
  range?: [number, number];
  unit: string;
  higherIsBetter: boolean;
  threshold: number;
  /** Undefined when the figure was not measured in this run. */
  met: boolean | undefined;
}

/** How much to run. */
export interface Settings {
  quick: boolean;
  /** Added to every key and stream seed: BENCH_SEED, 0 by default. */
  seed: number;
  dists: Distribution[];
  sizes: number[];
  impls: Impl[];
  /** Which parts of the core section run. */
  parts: Part[];
  rounds: number;
  /** Each round repeats the pass sequence at least this many times and for at least `minMs`. */
  minSamples: number;
  minMs: number;
  minOpsPerCall: number;
  maxKeysPerCall: number;
  subset: number;
  churn: number;
  zipfRequests: number[];
  memoryEntries: number;
  heapLookups: number;
  callKeys: number;
}

/** The parts of the core section. */
export const PARTS = ["matrix", "zipf", "memory", "calls"] as const;

/** One part of the core section. */
export type Part = (typeof PARTS)[number];

/** Everything one run of the core section measured. */
export interface CoreResults {
  machine: Record<string, string | number>;
  settings: Settings;
  /** How each native table was built, or why it was skipped. */
  natives: Record<NativeId, string>;
  matrix: MatrixRow[];
  tableBytes: TableBytes[];
  zipf: ZipfRow[];
  /** The hit ratio of an unbounded cache on each stream (an upper bound for every row). */
  zipfBound: { keys: number; hitRatio: number }[];
  memory: MemoryRow[];
  heap: HeapGrowth[];
  calls: CallResults | undefined;
  /** The targets of issue 4 (65,536 live slab-like keys). */
  targets: Target[];
  /** The targets of issue 17: the core against absl, bytes per entry, one-key calls. */
  anchorTargets: Target[];
}
