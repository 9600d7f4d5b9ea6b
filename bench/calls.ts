// The call breakdown: one-key calls split into their parts by timing nested variants on the same
// hit keys, each adding one part to the one before (see VARIANTS). Interleaved rounds, medians.
// Each process of it holds one cache, so its call sites see one callee, as a program with one cache
// does; twoCaches runs in a second process where another cache's calls went through getBytes first.
import { execFileSync } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { u64 } from "../src/check.js";
import { toHex } from "../src/hex.js";
import { BUILD_ID_MAX, BuildIdCache } from "../src/index.js";
import { instantiateCore } from "../src/wasm.js";
import { type Budget, interleave, nsPerCall, spread } from "./harness.js";
import { makeUniverse, pick, prng, sample } from "./keys.js";
import { CALLS, type Call, type CallResults } from "./results.js";

/** What each variant adds to the one it nests, for the tables. */
export const ADDS: Record<Call, string> = {
  boundary: "JS -> wasm call with a BigInt (an empty wasm function)",
  lookup: "+ probe and copy into the I/O region: bare core.lookup",
  copy: "+ the five-word copy to out that getBytes does, unchecked",
  checked: "+ argument checks (check.ts u64) before core.lookup",
  getBytes: "+ copy out: cache.getBytes(key, out)",
  twoCaches: "getBytes once a second cache's calls went through it too (own process)",
  hex: "toHex of the I/O region's ID alone: formatting without a lookup before it",
  get: "cache.get(key): the checked lookup + hex formatting",
  map: "Map<bigint, Uint8Array>.get, for reference",
};

/** The variant each one adds a part to, so a part's cost is the difference of the two. */
export const NESTS: Partial<Record<Call, Call>> = {
  lookup: "boundary",
  copy: "lookup",
  checked: "lookup",
  getBytes: "checked",
  twoCaches: "getBytes",
  get: "checked",
};

// (module (func (export "f") (param i64 i32) (result i32) i32.const 0)): the boundary alone.
const EMPTY = Uint8Array.of(
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...[0x01, 0x07, 0x01, 0x60, 0x02, 0x7e, 0x7f, 0x01, 0x7f],
  ...[0x03, 0x02, 0x01, 0x00],
  ...[0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00],
  ...[0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b],
);

/** Which variants a process times: all but twoCaches, or twoCaches alone. */
type Half = "one cache" | "two caches";

/**
 * Times every variant over `keys` distinct hits on a table of `size` slab-like keys, in `rounds`
 * interleaved rounds: each half in a child process of its own, so no cache made before (or by the
 * other half) shares a call site with the ones timed.
 */
export function callBreakdown(size: number, keys: number, rounds: number, budget: Budget, seed: number): CallResults {
  const tsx = import.meta.resolve("tsx");
  const halves = (["one cache", "two caches"] as const).map((half) => {
    const args = JSON.stringify({ size, keys, rounds, budget, seed, half });
    const child = execFileSync(process.execPath, ["--import", tsx, fileURLToPath(import.meta.url), args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    return JSON.parse(child) as CallResults;
  });
  const rows = halves.flatMap((h) => h.rows);
  return { size, keys, rows: CALLS.map((call) => rows.find((r) => r.call === call)!) };
}

async function timeHalf(
  size: number,
  keys: number,
  rounds: number,
  budget: Budget,
  seed: number,
  half: Half,
): Promise<CallResults> {
  const universe = makeUniverse("slab", size, size, seed + size + 17);
  const hit = pick(universe, sample(0, size, Math.min(keys, size), keys, prng(seed + size + 19)));
  const big = hit.big;
  const cache = await BuildIdCache.create({ capacity: size });
  cache.setMany(universe.u64, universe.ids, BUILD_ID_MAX);
  const core = await instantiateCore();
  if (core.init(size) !== 0) throw new Error(`core init(${size}) failed`);
  const batch = core.BATCH.value as number;
  const io = core.ioIds.value as number;
  const words = new BigUint64Array(core.memory.buffer);
  const bytes = new Uint8Array(core.memory.buffer);
  for (let start = 0; start < size; start += batch) {
    const n = Math.min(batch, size - start);
    words.set(universe.u64.subarray(start, start + n), (core.ioKeys.value as number) / 8);
    bytes.set(universe.ids.subarray(start * BUILD_ID_MAX, (start + n) * BUILD_ID_MAX), io);
    bytes.fill(BUILD_ID_MAX, core.ioLens.value as number, (core.ioLens.value as number) + n);
    core.insertMany(n);
  }
  const empty = (await WebAssembly.instantiate(EMPTY)).instance.exports.f as (key: bigint, at: number) => number;
  const map = new Map<bigint, Uint8Array>(universe.big.map((k, i) => [k, universe.values[i]!]));
  const lookup = core.lookup;
  const out = new Uint8Array(BUILD_ID_MAX);
  const outView = new DataView(out.buffer);
  const u32 = new Uint32Array(core.memory.buffer);
  const w = io >>> 2;

  // One loop per variant, so every call site sees one callee.
  const variants: Record<Call, () => number> = {
    boundary() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += empty(big[i]!, io);
      return n;
    },
    lookup() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += lookup(big[i]!, io);
      return n;
    },
    copy() {
      let n = 0;
      for (let i = 0; i < big.length; i++) {
        const length = lookup(big[i]!, io);
        if (length === 0) continue;
        outView.setUint32(0, u32[w]!, true);
        outView.setUint32(4, u32[w + 1]!, true);
        outView.setUint32(8, u32[w + 2]!, true);
        outView.setUint32(12, u32[w + 3]!, true);
        outView.setUint32(16, u32[w + 4]!, true);
        n += length;
      }
      return n;
    },
    checked() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += lookup(u64("key", big[i]!), io);
      return n;
    },
    getBytes() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += cache.getBytes(big[i]!, out);
      return n;
    },
    twoCaches() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += cache.getBytes(big[i]!, out);
      return n;
    },
    hex() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += toHex(bytes, io, BUILD_ID_MAX).length;
      return n;
    },
    get() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += cache.get(big[i]!)!.length;
      return n;
    },
    map() {
      let n = 0;
      for (let i = 0; i < big.length; i++) n += map.get(big[i]!)!.length;
      return n;
    },
  };
  if (half === "two caches") {
    // Enough calls through getBytes on another cache for V8 to optimize it seeing both callees.
    const other = await BuildIdCache.create({ capacity: 64 });
    other.set(1n, universe.values[0]!);
    for (let i = 0; i < 200_000; i++) {
      other.getBytes(1n, out);
      cache.getBytes(big[i % big.length]!, out);
    }
  }
  const calls = (Object.keys(variants) as Call[]).filter((c) => (c === "twoCaches") === (half === "two caches"));
  const chars = 2 * BUILD_ID_MAX * keys;
  const want: Partial<Record<Call, number>> = { boundary: 0, hex: chars, get: chars };
  for (const call of calls) {
    const got = variants[call]();
    const expected = want[call] ?? BUILD_ID_MAX * keys;
    if (got !== expected) throw new Error(`call breakdown: ${call} returned ${got}, expected ${expected}`);
  }
  const perRound = new Map<Call, number[]>(calls.map((c) => [c, []]));
  await interleave(calls, rounds, (call) => {
    perRound.get(call)!.push(nsPerCall(variants[call], budget) / keys);
  });
  cache.dispose();
  return {
    size,
    keys,
    rows: calls.map((call) => ({ call, ns: spread(perRound.get(call)!), rounds: perRound.get(call)! })),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { size, keys, rounds, budget, seed, half } = JSON.parse(process.argv[2]!);
  process.stdout.write(`${JSON.stringify(await timeHalf(size, keys, rounds, budget, seed, half))}\n`);
}
