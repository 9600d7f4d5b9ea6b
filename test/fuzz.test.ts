// Fuzzing. Short by default (it runs in `npm test`); `npm run fuzz` sets FUZZ_RUNS for a long run.
// 1. Sequences of public API calls with valid and invalid arguments against a Map model: a valid
//    call does what the model does; an invalid one throws the documented error and changes nothing.
// 2. The snapshot loader and the ELF reader fed mutated real inputs: a typed refusal or a sound result.
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { ElfError, readBuildId } from "../src/elf.js";
import { BUILD_ID_MAX, BuildIdCache, SnapshotError } from "../src/index.js";
import { records, reseal } from "./helpers/snapshot-bytes.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 250);
const timeout = Math.max(60_000, RUNS * 20);
const U64 = (1n << 64n) - 1n;
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

// ---- arguments, each with the error the catalogue (docs/errors.md) promises for it ----------

/** An argument and the error it must cause: `undefined` when valid. */
interface Arg<T> {
  value: T;
  error?: [ErrorConstructor, RegExp];
}
const ok = <T>(value: T): Arg<T> => ({ value });
const bad = <T>(value: T, type: ErrorConstructor, message: RegExp): Arg<T> => ({ value, error: [type, message] });

const pool = [0n, 1n, U64, 1n << 63n, 0xffff_8880_0123_4000n, 0xffff_8880_0123_4468n, 42n, 0x0000_0803_0000_1234n];
const validKey = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...pool) }, fc.bigInt(0n, U64)).map((k) => ok(k));
const badKey = fc.oneof(
  fc.bigInt({ max: -1n }).map((k) => bad(k, RangeError, /^key must be a bigint in \[0, 2\^64\), got -\d+n$/)),
  fc
    .bigInt({ min: 1n << 64n, max: 1n << 80n })
    .map((k) => bad(k, RangeError, /^key must be a bigint in \[0, 2\^64\), got \d+n$/)),
  fc
    .constantFrom(5, "5", null, undefined, 1.5, {}, [1n], true)
    .map((k) => bad(k as unknown as bigint, TypeError, /^key must be a bigint in \[0, 2\^64\), got /)),
);
const key = fc.oneof({ weight: 6, arbitrary: validKey }, badKey);

const idBytes = fc.uint8Array({ minLength: 1, maxLength: BUILD_ID_MAX });
const lengthMessage = /^build ID( "[^"]*")? must be 1 to 20 bytes, got \d+$/;
const buildId = fc.oneof(
  { weight: 4, arbitrary: idBytes.map((b) => ok<Uint8Array | string>(b)) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(idBytes, fc.boolean())
      .map(([b, upper]) => ok<Uint8Array | string>(upper ? hex(b).toUpperCase() : hex(b))),
  },
  fc.constant(bad<Uint8Array | string>("", RangeError, lengthMessage)),
  fc.constant(bad<Uint8Array | string>("a", TypeError, /^build ID "a" has odd length 1$/)),
  idBytes
    .filter((b) => b.length >= 2)
    .map((b) => bad<Uint8Array | string>(hex(b).slice(1), TypeError, /^build ID "[0-9a-f]*" has odd length \d+$/)),
  fc.tuple(idBytes, fc.nat(), fc.constantFrom("g", "x", " ", "-", "é", "Z")).map(([b, at, c]) => {
    const s = hex(b);
    const i = at % s.length;
    return bad<Uint8Array | string>(
      s.slice(0, i) + c + s.slice(i + 1),
      TypeError,
      /^build ID ".*" has a non-hex character ".*" at \d+$/,
    );
  }),
  fc
    .uint8Array({ minLength: 21, maxLength: 30 })
    .map((b) => bad<Uint8Array | string>(hex(b), RangeError, lengthMessage)),
  fc.uint8Array({ minLength: 21, maxLength: 30 }).map((b) => bad<Uint8Array | string>(b, RangeError, lengthMessage)),
  fc.constant(bad<Uint8Array | string>(new Uint8Array(0), RangeError, lengthMessage)),
  fc
    .constantFrom(7, null, undefined, [1, 2], new Uint16Array(4), {})
    .map((b) => bad(b as unknown as Uint8Array, TypeError, /^build ID must be a Uint8Array or a hex string, got /)),
);

/** A typed array of `need` elements or more; one too short is a RangeError naming it. */
function tooShort(what: string, need: number, make: (n: number) => Uint8Array): fc.Arbitrary<Arg<Uint8Array>>[] {
  if (need === 0) return [];
  return [
    fc
      .integer({ min: 0, max: need - 1 })
      .map((n) => bad(make(n), RangeError, new RegExp(`^${what} has room for ${n} values, needs ${need}$`))),
  ];
}
/** Not a Uint8Array (nor a number), though long enough: a TypeError naming it. */
function wrongType(what: string, need: number): fc.Arbitrary<Arg<Uint8Array>> {
  return fc
    .constantFrom(new Array(need + 20).fill(1), new Uint16Array(need + 20), "x".repeat(need + 20), null)
    .map((v) => bad(v as unknown as Uint8Array, TypeError, new RegExp(`^${what} must be a Uint8Array, got `)));
}
function room(what: string, need: number, make: (n: number) => Uint8Array): fc.Arbitrary<Arg<Uint8Array>> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: need, max: need + 30 }).map((n) => ok(make(n))) },
    wrongType(what, need),
    ...tooShort(what, need, make),
  );
}

const keyArray = fc.array(fc.constantFrom(...pool), { maxLength: 12 });
const keysArg = fc.oneof(
  { weight: 6, arbitrary: keyArray.map((ks) => ok(BigUint64Array.from(ks))) },
  keyArray.map((ks) =>
    bad(ks as unknown as BigUint64Array, TypeError, /^keys must be a BigUint64Array, got \[object Array\]$/),
  ),
  keyArray.map((ks) =>
    bad(
      BigInt64Array.from(ks, (k) => BigInt.asIntN(64, k)) as unknown as BigUint64Array,
      TypeError,
      /^keys must be a BigUint64Array, got \[object BigInt64Array\]$/,
    ),
  ),
);

// ---- operations ---------------------------------------------------------------------------

type Op =
  | { kind: "set"; key: Arg<bigint>; id: Arg<Uint8Array | string> }
  | { kind: "get" | "has" | "delete"; key: Arg<bigint> }
  | { kind: "getBytes"; key: Arg<bigint>; out: Arg<Uint8Array>; offset: Arg<number | undefined> }
  | { kind: "clear" }
  | { kind: "getMany"; keys: Arg<BigUint64Array>; out: Arg<Uint8Array>; lengths: Arg<Uint8Array> }
  | { kind: "setMany"; keys: Arg<BigUint64Array>; ids: Arg<Uint8Array>; lengths: Arg<Uint8Array | number> }
  | { kind: "deleteMany"; keys: Arg<BigUint64Array>; removed: Arg<Uint8Array | undefined> };

const noRoom = /^offset \d+ leaves no room for 20 bytes in out of length \d+$/;
const notAnOffset = /^offset must be an integer >= 0, got .+$/;
const getBytesOp = fc
  .record({
    key,
    outLength: fc.integer({ min: 0, max: 48 }),
    offset: fc.oneof(fc.integer({ min: -3, max: 30 }), fc.constantFrom(undefined, 1.5, Number.NaN, "0")),
  })
  .chain(({ key, outLength, offset }) =>
    fc
      .oneof(
        { weight: 6, arbitrary: fc.constant(ok(new Uint8Array(outLength))) },
        fc
          .constantFrom(new Array(48).fill(0), new Uint16Array(48), null)
          .map((o) => bad(o as unknown as Uint8Array, TypeError, /^out must be a Uint8Array, got /)),
      )
      .map((out): Op => {
        const at = offset ?? 0;
        const given = offset as number | undefined;
        const notOffset = typeof at !== "number" ? TypeError : !Number.isInteger(at) || at < 0 ? RangeError : undefined;
        const fits = typeof at === "number" && !notOffset && at + BUILD_ID_MAX <= (out.value?.length ?? 0);
        return {
          kind: "getBytes",
          key,
          out,
          offset:
            out.error || fits
              ? ok(given)
              : notOffset
                ? bad(given, notOffset, notAnOffset)
                : bad(given, RangeError, noRoom),
        };
      }),
  );

function batchOf(keys: Arg<BigUint64Array>): number {
  return keys.value.length;
}

const getManyOp = keysArg.chain((keys) =>
  fc.record({
    kind: fc.constant("getMany" as const),
    keys: fc.constant(keys),
    out: room("out", batchOf(keys) * BUILD_ID_MAX, (n) => new Uint8Array(n)),
    lengths: room("lengths", batchOf(keys), (n) => new Uint8Array(n)),
  }),
);

const setManyOp = keysArg.chain((keys) => {
  const n = batchOf(keys);
  const badAt: fc.Arbitrary<Arg<Uint8Array | number>>[] =
    n === 0
      ? []
      : [
          fc
            .tuple(
              fc.uint8Array({ minLength: n, maxLength: n, min: 1, max: BUILD_ID_MAX }),
              fc.nat(),
              fc.constantFrom(0, 21, 200),
            )
            .map(([l, at, v]) => {
              const i = at % n;
              l[i] = v;
              return bad<Uint8Array | number>(
                l,
                RangeError,
                new RegExp(`^lengths\\[${i}\\] must be 1 to 20 bytes, got ${v}$`),
              );
            }),
        ];
  const lengths = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .uint8Array({ minLength: n, maxLength: n + 3, min: 1, max: BUILD_ID_MAX })
        .map((l) => ok<Uint8Array | number>(l)),
    },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: BUILD_ID_MAX }).map((l) => ok<Uint8Array | number>(l)) },
    fc
      .constantFrom(0, 21, -1, 255, 1.5, Number.NaN, Number.POSITIVE_INFINITY)
      .map((l) =>
        bad<Uint8Array | number>(l, RangeError, new RegExp(`^build ID length must be 1 to 20 bytes, got ${l}$`)),
      ),
    ...badAt,
    ...(tooShort("lengths", n, (m) => new Uint8Array(m).fill(1)) as fc.Arbitrary<Arg<Uint8Array | number>>[]),
    wrongType("lengths", n) as fc.Arbitrary<Arg<Uint8Array | number>>,
  );
  return fc.record({
    kind: fc.constant("setMany" as const),
    keys: fc.constant(keys),
    ids: room("ids", n * BUILD_ID_MAX, (m) => Uint8Array.from({ length: m }, (_, i) => i * 7)),
    lengths,
  });
});

const deleteManyOp = keysArg.chain((keys) =>
  fc.record({
    kind: fc.constant("deleteMany" as const),
    keys: fc.constant(keys),
    removed: fc.oneof(
      fc.constant(ok<Uint8Array | undefined>(undefined)),
      room("removed", batchOf(keys), (n) => new Uint8Array(n)) as fc.Arbitrary<Arg<Uint8Array | undefined>>,
    ),
  }),
);

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant("set" as const), key, id: buildId }) },
  {
    weight: 5,
    arbitrary: fc.record({ kind: fc.constantFrom("get" as const, "has" as const, "delete" as const), key }),
  },
  { weight: 2, arbitrary: getBytesOp },
  { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
  { weight: 2, arbitrary: getManyOp },
  { weight: 2, arbitrary: setManyOp },
  { weight: 2, arbitrary: deleteManyOp },
);

/** The first error among the arguments, in the order the method checks them. */
function expectedError(o: Op): [ErrorConstructor, RegExp] | undefined {
  switch (o.kind) {
    case "set":
      return o.key.error ?? o.id.error;
    case "get":
    case "has":
    case "delete":
      return o.key.error;
    case "getBytes":
      return o.key.error ?? o.out.error ?? o.offset.error;
    case "clear":
      return undefined;
    case "getMany":
      return o.keys.error ?? o.out.error ?? o.lengths.error;
    case "setMany":
      return o.keys.error ?? o.ids.error ?? o.lengths.error;
    case "deleteMany":
      return o.keys.error ?? o.removed.error;
  }
}

// ---- the model ----------------------------------------------------------------------------

class Model {
  readonly map = new Map<bigint, string>();
  readonly evicted: bigint[] = [];
  constructor(readonly capacity: number) {}

  /** An insert as the cache does it; a new key in a full cache takes the next reported eviction. */
  insert(k: bigint, id: string): void {
    if (!this.map.has(k) && this.map.size === this.capacity) {
      const victim = this.evicted.shift();
      expect(victim, "a full cache reports an eviction").toBeDefined();
      expect(victim).not.toBe(k);
      expect(this.map.has(victim!), "the evicted key was present").toBe(true);
      this.map.delete(victim!);
    }
    this.map.set(k, id);
  }
}

function apply(cache: BuildIdCache, model: Model, o: Op): void {
  const m = model.map;
  switch (o.kind) {
    case "set": {
      const id = o.id.value;
      cache.set(o.key.value, id);
      model.insert(o.key.value, typeof id === "string" ? id.toLowerCase() : hex(id));
      return;
    }
    case "get":
      expect(cache.get(o.key.value)).toBe(m.get(o.key.value));
      return;
    case "has":
      expect(cache.has(o.key.value)).toBe(m.has(o.key.value));
      return;
    case "delete":
      expect(cache.delete(o.key.value)).toBe(m.delete(o.key.value));
      return;
    case "clear":
      cache.clear();
      m.clear();
      return;
    case "getBytes": {
      const out = o.out.value;
      const before = out instanceof Uint8Array ? out.slice() : out;
      const at = o.offset.value ?? 0;
      const length =
        o.offset.value === undefined
          ? cache.getBytes(o.key.value, out)
          : cache.getBytes(o.key.value, out, o.offset.value);
      const want = m.get(o.key.value) ?? "";
      expect(length).toBe(want.length / 2);
      expect(hex(out.subarray(at, at + length))).toBe(want);
      // Bytes past the ID may hold the ID's zero padding; bytes outside the 20-byte window never change.
      expect([...out.subarray(0, at), ...out.subarray(at + BUILD_ID_MAX)]).toEqual([
        ...before.subarray(0, at),
        ...before.subarray(at + BUILD_ID_MAX),
      ]);
      return;
    }
    case "getMany": {
      const keys = o.keys.value;
      const hits = cache.getMany(keys, o.out.value, o.lengths.value);
      expect(hits).toBe([...keys].filter((k) => m.has(k)).length);
      keys.forEach((k, i) => {
        const want = m.get(k) ?? "";
        expect(o.lengths.value[i]).toBe(want.length / 2);
        expect(hex(o.out.value.subarray(i * BUILD_ID_MAX, i * BUILD_ID_MAX + want.length / 2))).toBe(want);
      });
      return;
    }
    case "setMany": {
      const { keys, ids, lengths } = { keys: o.keys.value, ids: o.ids.value, lengths: o.lengths.value };
      const evictions = cache.setMany(keys, ids, lengths);
      expect(evictions).toBe(model.evicted.length);
      keys.forEach((k, i) => {
        const length = typeof lengths === "number" ? lengths : lengths[i]!;
        model.insert(k, hex(ids.subarray(i * BUILD_ID_MAX, i * BUILD_ID_MAX + length)));
      });
      return;
    }
    case "deleteMany": {
      const keys = o.keys.value;
      const removed = o.removed.value;
      const count = removed === undefined ? cache.deleteMany(keys) : cache.deleteMany(keys, removed);
      const want = [...keys].map((k) => (m.delete(k) ? 1 : 0));
      expect(count).toBe(want.reduce((a: number, b) => a + b, 0));
      if (removed) expect([...removed.subarray(0, keys.length)]).toEqual(want);
      return;
    }
  }
}

function catching(call: () => void): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

function describeOp(o: Op): string {
  return `${o.kind}(${Object.entries(o)
    .filter(([name]) => name !== "kind")
    .map(([name, arg]) => `${name}: ${String((arg as Arg<unknown>).value)}`)
    .join(", ")})`;
}

/** Everything a call could change: entries, order, reference bits (all in a snapshot) and counters. */
function fingerprint(cache: BuildIdCache): [Uint8Array, number[]] {
  const s = cache.stats();
  return [cache.snapshot(), [s.size, s.inserts, s.updates, s.hits, s.misses, s.removals, s.evictions]];
}

describe("API sequences against a Map model", () => {
  test(
    `${RUNS} random call sequences, valid and invalid`,
    async () => {
      let invalid = 0;
      let calls = 0;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 40 }), async (capacity, ops) => {
          const model = new Model(capacity);
          const cache = await BuildIdCache.create({ capacity, onEvict: (k) => model.evicted.push(k) });
          for (const o of ops) {
            calls++;
            const error = expectedError(o);
            if (error) {
              invalid++;
              const before = fingerprint(cache);
              // apply() calls the cache before touching the model, so a throw leaves the model as it was.
              const thrown = catching(() => apply(cache, model, o));
              expect(thrown?.constructor, `${describeOp(o)} throws`).toBe(error[0]);
              expect((thrown as Error).message).toMatch(error[1]);
              expect(fingerprint(cache), `${describeOp(o)} changes nothing`).toEqual(before);
              expect(model.evicted).toEqual([]);
              continue;
            }
            apply(cache, model, o);
            expect(model.evicted, "every reported eviction was accounted for").toEqual([]);
            expect(cache.size).toBe(model.map.size);
            expect(new Map(cache)).toEqual(model.map);
          }
          cache.verify();
        }),
        { numRuns: RUNS },
      );
      expect(invalid).toBeGreaterThan(calls / 10);
    },
    timeout,
  );
});

// ---- mutated real inputs --------------------------------------------------------------------

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A position, taken modulo the input's length; half fall in the first 512 bytes, where the headers are. */
const position = fc.oneof(fc.nat({ max: 511 }), fc.nat());

/** Edits of a byte string: flips, overwrites, cuts, insertions, splices. */
const mutation: fc.Arbitrary<(bytes: Uint8Array) => Uint8Array> = fc.oneof(
  fc.tuple(position, fc.integer({ min: 1, max: 255 })).map(([p, x]) => (b: Uint8Array) => {
    if (b.length > 0) b[p % b.length]! ^= x;
    return b;
  }),
  fc.tuple(position, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([p, v]) => (b: Uint8Array) => {
    const i = p % (b.length + 1);
    b.set(v.subarray(0, b.length - i), i);
    return b;
  }),
  position.map((p) => (b: Uint8Array) => b.subarray(0, p % (b.length + 1))),
  fc.tuple(position, fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([p, v]) => (b: Uint8Array) => {
    const i = p % (b.length + 1);
    return concat(b.subarray(0, i), v, b.subarray(i));
  }),
  fc.tuple(position, position).map(([p, q]) => (b: Uint8Array) => {
    const [i, j] = [p % (b.length + 1), q % (b.length + 1)].sort((x, y) => x - y) as [number, number];
    return concat(b.subarray(0, i), b.subarray(j));
  }),
);
const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

describe("the snapshot loader on mutated snapshots", () => {
  const entries = fc.array(fc.tuple(fc.bigInt(0n, U64), idBytes), { maxLength: 10 });

  test(
    `${RUNS} mutated snapshots, half of them resealed: a SnapshotError, a RangeError, or a sound cache`,
    async () => {
      const seen = new Set<string>();
      const source = await BuildIdCache.create({ capacity: 12 });
      await fc.assert(
        fc.asyncProperty(
          entries,
          fc.array(fc.nat(), { maxLength: 4 }),
          mutations,
          fc.boolean(),
          fc.integer({ min: 1, max: 12 }),
          async (pairs, uses, edits, seal, target) => {
            source.clear();
            for (const [k, id] of pairs) source.set(k, id);
            for (const k of uses) source.get(pairs[k % Math.max(1, pairs.length)]?.[0] ?? 0n);
            let bytes = source.snapshot();
            for (const edit of edits) bytes = edit(bytes);
            if (seal && bytes.length >= 4) reseal(bytes);
            let restored: BuildIdCache;
            try {
              // An explicit capacity keeps a forged header from reserving hundreds of megabytes.
              restored = await BuildIdCache.restore(bytes, { capacity: target });
            } catch (error) {
              if (error instanceof SnapshotError) {
                seen.add(error.code);
                return;
              }
              expect(error).toBeInstanceOf(RangeError);
              expect((error as Error).message).toMatch(
                new RegExp(`^snapshot holds \\d+ entries, more than capacity ${target}$`),
              );
              seen.add("RangeError");
              return;
            }
            seen.add("accepted");
            restored.verify();
            expect([...restored].map(([k, id]) => [k, id])).toEqual(records(bytes).map(([k, id]) => [k, id]));
          },
        ),
        { numRuns: RUNS },
      );
      console.log(`snapshot loader fuzz: outcomes seen ${[...seen].sort().join(", ")}`);
      // The resealed half reaches the checks behind the checksum.
      expect(seen.has("BAD_ENTRY") || RUNS < 100).toBe(true);
    },
    timeout,
  );
});

/** Real ELF files: the ELF reader's fixtures (built by yaml2obj) and a system binary. */
function realElfFiles(): Uint8Array[] {
  const fixtures = new URL("fixtures/elf/", import.meta.url);
  const names = readdirSync(fixtures).filter((name) => name.endsWith(".elf"));
  return [
    ...names.map((name) => new Uint8Array(readFileSync(new URL(name, fixtures)))),
    new Uint8Array(readFileSync("/usr/bin/true")),
  ];
}

describe("the ELF reader on mutated ELF files", () => {
  const files = realElfFiles();

  test(
    `${RUNS} mutated ELF files: an ElfError or a build ID that lies inside the file`,
    () => {
      fc.assert(
        fc.property(fc.nat({ max: files.length - 1 }), mutations, (f, edits) => {
          let bytes: Uint8Array = files[f]!.slice();
          for (const edit of edits) bytes = edit(bytes);
          try {
            const info = readBuildId(bytes);
            expect(info.offset + info.length).toBeLessThanOrEqual(bytes.length);
            expect(hex(bytes.subarray(info.offset, info.offset + info.length))).toBe(info.buildId);
          } catch (error) {
            expect(error, String(error)).toBeInstanceOf(ElfError);
          }
        }),
        { numRuns: RUNS },
      );
    },
    timeout,
  );
});
