// Random interleavings of writer steps and reader steps, replayed in one thread: each read is
// split into the core's begin, probe and end, and a probe may run on a torn table (every byte the
// writes since its begin changed taken at random from before them, after them, or 0xff for a write
// in between), as a reader in another thread sees one. A read that ends valid returns the model's
// answer; one that overlapped a write ends invalid; no probe traps.
// SHARED_INTERLEAVE_SEED and SHARED_INTERLEAVE_RUNS replay a run.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { BuildIdCache } from "../src/cache.js";
import { BuildIdCacheReader } from "../src/shared.js";
import { idFor, xorshift } from "./helpers/shared-ids.js";

const SEED = Number(process.env.SHARED_INTERLEAVE_SEED ?? Date.now() % 2 ** 31);
const RUNS = Number(process.env.SHARED_INTERLEAVE_RUNS ?? 200);
const KEYS = 60;
const READERS = 2;
/** The header's bytes, as drawn in assembly/index.ts. */
const HEADER_BYTES = 36;

type Step =
  | { kind: "set"; key: number }
  | { kind: "delete"; key: number }
  | { kind: "clear" }
  | { kind: "begin"; reader: number; key: number }
  | { kind: "read"; reader: number; key: number }
  | { kind: "probe"; reader: number; torn: boolean }
  | { kind: "end"; reader: number };

const key = fc.integer({ min: 0, max: KEYS - 1 });
const reader = fc.integer({ min: 0, max: READERS - 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ kind: fc.constant("set" as const), key }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("delete" as const), key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const) }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("begin" as const), reader, key }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("read" as const), reader, key }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("probe" as const), reader, torn: fc.boolean() }) },
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("end" as const), reader }) },
);

/** A read in flight: its key, the epoch it began at, the table then, and what its probe found. */
interface Read {
  key: bigint;
  begun: bigint;
  base: Uint8Array;
  writes: number;
  length?: number;
}

describe("shared reads interleaved with writes, in one thread", () => {
  test("a read that ends valid returns the model's answer; a torn probe never traps", async () => {
    console.log(`shared interleave: SHARED_INTERLEAVE_SEED=${SEED} SHARED_INTERLEAVE_RUNS=${RUNS}`);
    const stats = { valid: 0, validHits: 0, contended: 0, tornProbes: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 20, maxLength: 300, size: "large" }),
        fc.integer(),
        async (steps, mixSeed) => {
          const model = new Map<bigint, string>();
          // 40 entries over 4 buckets: evictions, compaction and overflow counts in a few steps.
          using cache = await BuildIdCache.create({
            capacity: 40,
            shared: true,
            onEvict: (evicted) => model.delete(evicted),
          });
          const handle = cache.share();
          const readers = await Promise.all(Array.from({ length: READERS }, () => BuildIdCacheReader.attach(handle)));
          const bytes = new Uint8Array(handle.memory.buffer);
          // Memory up to the table's header end (readers' pages lie beyond); only changed bytes get mixed.
          const from = 0;
          const table = () => bytes.slice(from, handle.header + HEADER_BYTES);
          const random = xorshift(mixSeed);
          const reads: (Read | undefined)[] = [];
          let writes = 0;
          let gen = 0;
          for (const s of steps) {
            if (s.kind === "set") {
              const k = BigInt(s.key) * 0x1000n;
              const id = idFor(k, ++gen);
              cache.set(k, id);
              model.set(k, Buffer.from(id).toString("hex"));
              writes++;
            } else if (s.kind === "delete") {
              if (cache.delete(BigInt(s.key) * 0x1000n)) writes++;
              model.delete(BigInt(s.key) * 0x1000n);
            } else if (s.kind === "clear") {
              cache.clear();
              model.clear();
              writes++;
            } else if (s.kind === "begin") {
              if (reads[s.reader]) continue;
              const k = BigInt(s.key) * 0x1000n;
              reads[s.reader] = { key: k, begun: readers[s.reader]!.steps.begin(), base: table(), writes };
            } else if (s.kind === "read") {
              if (reads[s.reader]) continue; // one thread, one read at a time: it shares the batch buffer
              const k = BigInt(s.key) * 0x1000n;
              const r = readers[s.reader]!;
              const hex = r.get(k);
              expect([k, hex]).toEqual([k, model.get(k)]);
              expect(r.has(k)).toBe(hex !== undefined);
              stats.valid++;
              if (hex !== undefined) stats.validHits++;
            } else if (s.kind === "probe") {
              const read = reads[s.reader];
              if (!read || read.length !== undefined) continue;
              const torn = s.torn && read.writes !== writes;
              const now = torn ? table() : undefined;
              if (now) {
                for (let i = 0; i < now.length; i++) {
                  if (now[i] === read.base[i]) continue;
                  const pick = random();
                  if (pick < 0.4) bytes[from + i] = read.base[i]!;
                  else if (pick < 0.6) bytes[from + i] = 0xff;
                }
                stats.tornProbes++;
              }
              try {
                read.length = readers[s.reader]!.steps.probe(read.key);
              } finally {
                if (now) bytes.set(now, from);
              }
            } else {
              const read = reads[s.reader];
              if (!read || read.length === undefined) continue;
              reads[s.reader] = undefined;
              const steps = readers[s.reader]!.steps;
              const valid = steps.end(read.begun);
              expect(valid).toBe(read.writes === writes);
              if (!valid) {
                stats.contended++;
                continue;
              }
              stats.valid++;
              const got = read.length === 0 ? undefined : steps.id(read.length);
              if (got !== undefined) stats.validHits++;
              expect([read.key, got]).toEqual([read.key, model.get(read.key)]);
            }
          }
          cache.verify();
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    console.log(`shared interleave: ${JSON.stringify(stats)}`);
    expect(stats.validHits).toBeGreaterThan(0);
    expect(stats.contended).toBeGreaterThan(0);
  });

  test("an entry number past capacity, as a torn read of a large table sees, is bounded, never followed", async () => {
    using cache = await BuildIdCache.create({ capacity: 40, shared: true });
    for (let k = 0n; k < 40n; k++) cache.set(k, idFor(k, 1));
    const handle = cache.share();
    const reader = await BuildIdCacheReader.attach(handle);
    const view = new DataView(handle.memory.buffer);
    // The header's buckets and bucket-count fields, and a bucket's entry numbers, as assembly/index.ts draws them.
    const buckets = view.getUint32(handle.header + 24, true);
    const bucketCount = view.getUint32(handle.header + 20, true);
    for (let b = 0; b < bucketCount; b++) {
      for (let i = 16; i < 16 + 15 * 3; i++) view.setUint8(buckets + b * 64 + i, 0xff);
    }
    // Every number bounds to entry 0, which holds key 0: its own ID, every other key a miss.
    const key0 = Buffer.from(idFor(0n, 1)).toString("hex");
    for (let k = 0n; k < 40n; k++) {
      expect([k, reader.get(k), reader.has(k)]).toEqual(k === 0n ? [k, key0, true] : [k, undefined, false]);
    }
    expect(reader.stats()).toMatchObject({ hits: 1, misses: 39, contendedMisses: 0 });
  });
});
