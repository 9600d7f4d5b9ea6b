// The issues' targets, computed from what one run measured: ratios are medians of per-round
// ratios (rounds are interleaved, so both sides of a ratio ran under the same load).
import { count } from "./format.js";
import { spread } from "./harness.js";
import type { Call, CoreResults, Impl, Op, Spread, Target } from "./results.js";

type Measured = Omit<CoreResults, "targets" | "anchorTargets">;

/** The size and keys the single-size targets are read at. */
const AT = { size: 65536, dist: "slab" } as const;

function rounds(r: Measured, impl: Impl, op: Op, size: number): number[] | undefined {
  return r.matrix.find((m) => m.impl === impl && m.op === op && m.size === size && m.dist === AT.dist)?.rounds;
}

/** Per-round `num / den`, over the rounds both have; undefined when either was not measured. */
function perRound(num: number[] | undefined, den: number[] | undefined): Spread | undefined {
  if (!num || !den || num.length === 0 || num.length !== den.length) return undefined;
  return spread(num.map((n, i) => n / den[i]!));
}

/** `slow`'s time over `fast`'s, per round: how many times faster `fast` is at `op`. */
export function matrixRatio(r: Measured, slow: Impl, fast: Impl, op: Op, size: number = AT.size): Spread | undefined {
  return perRound(rounds(r, slow, op, size), rounds(r, fast, op, size));
}

function callRounds(r: Measured, call: Call): number[] | undefined {
  return r.calls?.rows.find((c) => c.call === call)?.rounds;
}

type Goal = Omit<Target, "met" | "value" | "range"> & { measured: Spread | number | undefined };

function judge(goals: Goal[]): Target[] {
  return goals.map(({ measured, ...t }) => {
    const value = typeof measured === "number" ? measured : measured?.median;
    const range: [number, number] | undefined = typeof measured === "object" ? [measured.min, measured.max] : undefined;
    const met = value === undefined ? undefined : t.higherIsBetter ? value >= t.threshold : value <= t.threshold;
    return { ...t, value, ...(range ? { range } : {}), met };
  });
}

/** In both issues' tables. */
function singleChurn(r: Measured): Goal {
  return {
    name: "eviction churn (single set) vs lru-cache",
    goal: ">= 5x faster",
    measured: matrixRatio(r, "lru-cache", "single", "churn"),
    unit: "x",
    higherIsBetter: true,
    threshold: 5,
  };
}

function perEntry(r: Measured): number | undefined {
  return r.memory.find((m) => m.id === "batch")?.perEntry;
}

/** The targets of issue 4, at 65,536 live slab-like keys. */
export function issue4Targets(r: Measured): Target[] {
  const batchedHeap = r.heap.find((h) => h.api === "getMany");
  const zipfMargins = r.zipf
    .filter((z) => z.impl === "single")
    .map(
      (z) =>
        z.hitRatio -
        (r.zipf.find((l) => l.impl === "lru-cache" && l.keys === z.keys && l.fraction === z.fraction)?.hitRatio ??
          Number.NaN),
    );
  const x = { unit: "x", higherIsBetter: true };
  return judge([
    {
      name: "batched lookup hit vs Map<bigint, Uint8Array>",
      goal: ">= 15x faster",
      measured: matrixRatio(r, "map-bigint", "batch", "hit"),
      ...x,
      threshold: 15,
    },
    {
      name: "single-call lookup hit vs Map<bigint, Uint8Array>",
      goal: ">= 3x faster",
      measured: matrixRatio(r, "map-bigint", "single", "hit"),
      ...x,
      threshold: 3,
    },
    {
      name: "wasm-side batched lookup vs native C",
      goal: "<= 1.25x native",
      measured: matrixRatio(r, "wasm", "native", "hit"),
      ...x,
      higherIsBetter: false,
      threshold: 1.25,
    },
    {
      name: "eviction churn (setMany) vs lru-cache",
      goal: ">= 5x faster",
      measured: matrixRatio(r, "lru-cache", "batch", "churn"),
      ...x,
      threshold: 5,
    },
    singleChurn(r),
    {
      name: "bytes per live entry, everything included",
      goal: "<= 48",
      measured: perEntry(r),
      unit: "B",
      higherIsBetter: false,
      threshold: 48,
    },
    {
      name: "Zipf hit ratio minus lru-cache's (worst stream)",
      goal: ">= 0",
      measured: zipfMargins.length ? Math.min(...zipfMargins) : undefined,
      unit: "",
      higherIsBetter: true,
      threshold: 0,
    },
    // Below one byte per thousand lookups counts as zero: a full GC leaves a few KB of noise.
    {
      name: `JS heap growth over ${count(batchedHeap?.lookups ?? 0)} batched lookups`,
      goal: "0 (< 1 B per 1000 lookups)",
      measured: batchedHeap?.growth,
      unit: "B",
      higherIsBetter: false,
      threshold: (batchedHeap?.lookups ?? 0) / 1000,
    },
  ]);
}

/** The sizes and operations of the absl comparison. */
export const ANCHOR = { sizes: [65536, 1_000_000], ops: ["insert", "hit", "miss", "delete"] as const };

/** The targets of issue 17: the core inside wasm against absl::flat_hash_map, bytes per entry, one-key calls. */
export function anchorTargets(r: Measured): Target[] {
  const atMost = { unit: "x", higherIsBetter: false };
  return judge([
    ...ANCHOR.sizes.flatMap((size) =>
      ANCHOR.ops.map(
        (op): Goal => ({
          name: `core inside wasm : absl, ${op}, ${count(size)} live`,
          goal: "<= 1.0x",
          measured: matrixRatio(r, "wasm", "absl", op, size),
          ...atMost,
          threshold: 1,
        }),
      ),
    ),
    {
      name: "bytes per live entry, everything included",
      goal: "<= 36",
      measured: perEntry(r),
      unit: "B",
      higherIsBetter: false,
      threshold: 36,
    },
    {
      name: "getBytes : bare core.lookup (one-key call)",
      goal: "<= 1.5x",
      measured: perRound(callRounds(r, "getBytes"), callRounds(r, "lookup")),
      ...atMost,
      threshold: 1.5,
    },
    {
      name: "get (hex) : getBytes (one-key call)",
      goal: "<= 3x",
      measured: perRound(callRounds(r, "get"), callRounds(r, "getBytes")),
      ...atMost,
      threshold: 3,
    },
    singleChurn(r),
  ]);
}
