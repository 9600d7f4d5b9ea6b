// `npm run soak`: ten million mixed operations on a full cache, every answer checked against a Map
// model, with wasm memory and the JS heap (after a forced GC) sampled along the way. Both must stay
// flat: the core never grows after create, and the wrapper allocates nothing per entry.
//   npm run soak -- [--quick] [--json] [--out DIR] [--ops N] [--capacity N]
import { BUILD_ID_MAX, BuildIdCache } from "../src/index.js";
import { block, count, table } from "./format.js";
import { runIfMain, writeResults } from "./harness.js";

interface Sample {
  ops: number;
  size: number;
  wasmBytes: number;
  heapBytes: number;
  rssBytes: number;
}

/** What a soak run measured. */
export interface SoakResult {
  capacity: number;
  ops: number;
  seconds: number;
  samples: Sample[];
  hits: number;
  evictions: number;
  /** Largest minus smallest wasm memory over the samples, in bytes (0: constant). */
  wasmGrowth: number;
  /** Largest minus smallest heap after GC over the samples past the first tenth (JIT warm-up), in bytes. */
  heapSpread: number;
  /** Whether heap figures come after a forced GC (`node --expose-gc`). */
  forcedGc: boolean;
  /** Cache and model held the same entries at the end. */
  modelAgrees: boolean;
}

function option(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${name} must be a positive integer, got ${JSON.stringify(args[at + 1] ?? "")}`);
  return value;
}

/** xorshift32: cheap and allocation-free, so the soak measures the cache, not its driver. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function fail(message: string): never {
  throw new Error(`soak: model check failed: ${message}`);
}

/** Runs `ops` operations on a full cache of `capacity` and returns the samples and the verdicts. */
export async function soak(capacity: number, ops: number, samples = 20): Promise<SoakResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const random = rng(0x5eed);
  // Slab-like inode addresses (ext4_inode_cache objects are 1128 bytes), 25% more than fit.
  const keys = Array.from({ length: Math.ceil(capacity * 1.25) }, (_, i) => 0xffff_8880_0000_0000n + BigInt(i) * 1128n);
  const ids = Array.from({ length: 256 }, (_, i) => {
    const bytes = Uint8Array.from({ length: 1 + (i % BUILD_ID_MAX) }, (_, b) => (i * 31 + b * 7) & 0xff);
    return { bytes, hex: Buffer.from(bytes).toString("hex") };
  });
  const model = new Map<bigint, string>();
  const evicted: bigint[] = [];
  const cache = await BuildIdCache.create({ capacity, onEvict: (key) => evicted.push(key) });

  const insert = (key: bigint, hex: string): void => {
    if (!model.has(key) && model.size === capacity) {
      const victim = evicted.shift();
      if (victim === undefined || !model.delete(victim)) fail(`no eviction reported for a full cache inserting ${key}`);
    }
    model.set(key, hex);
  };
  const pick = (): bigint => keys[Math.floor(random() * keys.length)]!;
  const pickId = () => ids[Math.floor(random() * ids.length)]!;

  const BATCH = 64;
  const batchKeys = new BigUint64Array(BATCH);
  const batchIds = new Uint8Array(BATCH * BUILD_ID_MAX);
  const batchLens = new Uint8Array(BATCH);
  const out = new Uint8Array(BUILD_ID_MAX);

  for (const key of keys.slice(0, capacity)) {
    cache.set(key, ids[0]!.bytes);
    insert(key, ids[0]!.hex);
  }

  const taken: Sample[] = [];
  const sample = (done: number) => {
    gc?.();
    const stats = cache.stats();
    taken.push({
      ops: done,
      size: stats.size,
      wasmBytes: stats.memoryBytes,
      heapBytes: process.memoryUsage().heapUsed,
      rssBytes: process.memoryUsage().rss,
    });
  };
  sample(0);
  const every = Math.max(1, Math.floor(ops / samples));
  let nextSample = every;
  let hits = 0;
  let done = 0;
  const start = performance.now();
  while (done < ops) {
    const r = random();
    if (r < 0.4) {
      const key = pick();
      const got = cache.get(key);
      if (got !== model.get(key)) fail(`get(${key}) gave ${got}, model ${model.get(key)}`);
      if (got !== undefined) hits++;
      done++;
    } else if (r < 0.7) {
      const key = pick();
      const id = pickId();
      cache.set(key, id.bytes);
      insert(key, id.hex);
      done++;
    } else if (r < 0.75) {
      const key = pick();
      if (cache.delete(key) !== model.delete(key)) fail(`delete(${key}) disagrees`);
      done++;
    } else if (r < 0.8) {
      const key = pick();
      const length = cache.getBytes(key, out);
      if (length * 2 !== (model.get(key)?.length ?? 0)) fail(`getBytes(${key}) gave ${length} bytes`);
      done++;
    } else if (r < 0.9) {
      for (let i = 0; i < BATCH; i++) batchKeys[i] = pick();
      const found = cache.getMany(batchKeys, batchIds, batchLens);
      let want = 0;
      for (let i = 0; i < BATCH; i++) {
        const hex = model.get(batchKeys[i]!);
        if (hex !== undefined) want++;
        if (batchLens[i]! * 2 !== (hex?.length ?? 0)) fail(`getMany length for ${batchKeys[i]}`);
      }
      if (found !== want) fail(`getMany found ${found}, model ${want}`);
      hits += found;
      done += BATCH;
    } else {
      const chosen = [];
      for (let i = 0; i < BATCH; i++) {
        batchKeys[i] = pick();
        const id = pickId();
        chosen.push(id);
        batchIds.fill(0, i * BUILD_ID_MAX, (i + 1) * BUILD_ID_MAX);
        batchIds.set(id.bytes, i * BUILD_ID_MAX);
        batchLens[i] = id.bytes.length;
      }
      cache.setMany(batchKeys, batchIds, batchLens);
      for (let i = 0; i < BATCH; i++) insert(batchKeys[i]!, chosen[i]!.hex);
      done += BATCH;
    }
    if (evicted.length > 0) fail(`${evicted.length} evictions not matched by the model`);
    if (done >= nextSample) {
      sample(done);
      nextSample += every;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  if (taken.at(-1)!.ops !== done) sample(done);

  let modelAgrees = cache.size === model.size;
  for (const [key, hex] of cache) if (model.get(key) !== hex) modelAgrees = false;
  const stats = cache.stats();
  const wasm = taken.map((s) => s.wasmBytes);
  const heap = taken.slice(Math.ceil(taken.length / 10)).map((s) => s.heapBytes);
  return {
    capacity,
    ops: done,
    seconds,
    samples: taken,
    hits,
    evictions: stats.evictions,
    wasmGrowth: Math.max(...wasm) - Math.min(...wasm),
    heapSpread: Math.max(...heap) - Math.min(...heap),
    forcedGc: gc !== undefined,
    modelAgrees,
  };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);

/** Runs the soak and prints its table; `--quick` runs 500,000 operations on 16,384 entries. */
export async function main(args: string[]): Promise<void> {
  const quick = args.includes("--quick");
  const ops = option(args, "--ops", quick ? 500_000 : 10_000_000);
  const capacity = option(args, "--capacity", quick ? 16_384 : 65_536);
  const result = await soak(capacity, ops);
  const rows = result.samples.map((s) => [count(s.ops), s.size, mib(s.wasmBytes), mib(s.heapBytes), mib(s.rssBytes)]);
  console.log(`soak: ${count(result.ops)} mixed operations at capacity ${count(capacity)}`);
  console.log(table(block(["operations", "entries", "wasm MiB", "heap MiB", "rss MiB"], rows, 0)));
  console.log(
    `${(result.ops / result.seconds / 1e6).toFixed(2)} M checked ops/s; hits ${count(result.hits)}, evictions ${count(result.evictions)}\n` +
      `wasm memory growth: ${result.wasmGrowth} bytes; heap spread past the first tenth: ${mib(result.heapSpread)} MiB` +
      `${result.forcedGc ? " (after forced GC)" : " (no --expose-gc: heap figures include garbage)"}; model agrees: ${result.modelAgrees}`,
  );
  if (args.includes("--json")) {
    const at = args.indexOf("--out");
    writeResults(at >= 0 ? args[at + 1] : undefined, { "soak.json": `${JSON.stringify(result, null, 2)}\n` });
  }
  if (!result.modelAgrees || result.wasmGrowth !== 0) process.exitCode = 1;
}

runIfMain(import.meta.url, "soak", main);
