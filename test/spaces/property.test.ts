// Random event sequences against the naive reference (./reference.ts): after every event, every
// pid is asked about every interesting address, now and at past times, in one batch and one by one.
// With room for everything the answers must be equal; under tiny limits every answer the model
// does give must be the reference's (a limit may turn an answer into a failure, never into another).
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  type AddressSpace,
  AddressSpaces,
  type AddressSpacesOptions,
  type FileRef,
  fileKey,
  KERNEL_PID,
  LookupResults,
  LookupStatus,
  lookupFailure,
  type MappingFields,
  type SpaceEvent,
} from "../../src/spaces/index.js";
import { CHUNK_MAX, type Chunk, flatTreeBytes, type Layout } from "../../src/spaces/layout.js";
import { mulberry32, seedFrom } from "../helpers/random.js";
import { type RefAnswer, Reference } from "./reference.js";

const SEED = seedFrom("SPACES_SEED", "address-space property tests");
const RUNS = Number(process.env.SPACES_RUNS ?? 100);

const PAGE = 0x1000n;
// Bases where a halves search or an offset's carry would go wrong first: 0, across 2^32, user space, the top.
const BASES = [0n, 0xffff_0000n, 0x7f00_0000_0000n, (1n << 64n) - 64n * PAGE];
const PGOFFS = [0n, 0x3000n, 0xffff_f000n, 0xffff_ffff_ffff_f000n, 0x1234_5678_9abc_d000n];
const FILES: { path: string; file: FileRef }[] = [
  { path: "/usr/lib/libc.so.6", file: { kind: "inode", major: 8, minor: 1, inode: 11n, generation: 1n } },
  { path: "/usr/lib/libc.so.6", file: { kind: "inode", major: 8, minor: 1, inode: 11n, generation: 2n } },
  { path: "/usr/lib/libz.so.1", file: { kind: "inode", major: 8, minor: 1, inode: 12n } },
  { path: "/tmp/a.out", file: { kind: "inode", major: 0, minor: 44, inode: 0xffff_ffff_0000_0001n } },
  { path: "/usr/bin/node", file: { kind: "build-id", buildId: Uint8Array.of(1, 2, 3, 4) } },
  { path: "/usr/bin/perf", file: { kind: "build-id", buildId: new Uint8Array(20).fill(0xab) } },
  { path: "[vdso]", file: { kind: "pseudo" } },
  { path: "//anon", file: { kind: "pseudo" } },
  { path: "[heap]", file: { kind: "pseudo" } },
  { path: "/old/mmap-v1", file: { kind: "unknown" } },
];
const PIDS = [1, 2, 3];

// Most ranges in one base and a few pages, so that maps overlap, split and replace each other often.
const range = fc.record({
  base: fc.oneof({ weight: 6, arbitrary: fc.constant(BASES[1]!) }, fc.constantFrom(...BASES)),
  page: fc.integer({ min: 0, max: 15 }),
  pages: fc.integer({ min: 1, max: 6 }),
});
const fields: fc.Arbitrary<MappingFields> = fc
  .record({ range, pgoff: fc.constantFrom(...PGOFFS), file: fc.constantFrom(...FILES), prot: fc.nat(7) })
  .map(({ range: r, pgoff, file, prot }) => ({
    start: r.base + BigInt(r.page) * PAGE,
    length: BigInt(r.pages) * PAGE,
    pgoff,
    prot,
    flags: 2,
    path: file.path,
    file: file.file,
  }));
const pid = fc.constantFrom(...PIDS);
const anyPid = fc.constantFrom(...PIDS, KERNEL_PID);
const tidOf = (p: number, k: number) => (k === 0 ? p : p + 100 * k);

/** An event without its time, which the sequence adds. */
type Untimed = { delta: number; make: (time: bigint) => SpaceEvent };

const untimed: fc.Arbitrary<Untimed> = fc.record({
  delta: fc.integer({ min: 0, max: 2 }),
  make: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.tuple(anyPid, fields).map(([p, m]) => (time: bigint) => ({
        type: "map" as const,
        time,
        pid: p,
        tid: p,
        ...m,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(anyPid, range).map(([p, r]) => (time: bigint) => ({
        type: "unmap" as const,
        time,
        pid: p,
        start: r.base + BigInt(r.page) * PAGE,
        length: BigInt(r.pages) * PAGE,
      })),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(pid, pid, fc.nat(2), fc.boolean(), fc.boolean())
        .map(([p, parent, k, thread, synthesized]) => (time: bigint) => ({
          type: "fork" as const,
          time,
          pid: p,
          ppid: thread ? p : parent,
          tid: thread ? tidOf(p, k) : p,
          ptid: thread ? p : parent,
          synthesized,
        })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(pid, fc.boolean()).map(([p, exec]) => (time: bigint) => ({
        type: "comm" as const,
        time,
        pid: p,
        tid: p,
        comm: exec ? "new" : "renamed",
        exec,
      })),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(pid, fc.nat(2)).map(([p, k]) => (time: bigint) => ({
        type: "exit" as const,
        time,
        pid: p,
        tid: tidOf(p, k),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(anyPid, fc.array(fields, { maxLength: 5 })).map(([p, list]) => (time: bigint) => {
        // Keep the ones that do not overlap an earlier one: a snapshot is a consistent read.
        const mappings: MappingFields[] = [];
        for (const m of list) {
          if (mappings.every((o) => m.start + m.length <= o.start || o.start + o.length <= m.start)) mappings.push(m);
        }
        return { type: "snapshot" as const, time, pid: p, mappings };
      }),
    },
  ),
});

/** Every address worth asking about: the first and last byte of every page a mapping can reach, in every base. */
const ADDRESSES = BigUint64Array.from(
  BASES.flatMap((base) => Array.from({ length: 23 }, (_, page) => base + BigInt(page) * PAGE)).flatMap((a) => [
    a,
    a + PAGE - 1n,
  ]),
);

function events(list: Untimed[]): SpaceEvent[] {
  let time = 1n;
  return list.map(({ delta, make }) => {
    time += BigInt(delta);
    return make(time);
  });
}

/** The model's answer at index `i` of `out`, in the reference's terms. */
function answerAt(out: LookupResults, i: number): RefAnswer {
  const status = out.status[i]!;
  const m = out.mapping[i];
  if (status === LookupStatus.OK) {
    return { status, key: fileKey(m!.file, m!.path), path: m!.path, fileOffset: out.fileOffset[i]! };
  }
  if (status === LookupStatus.ANONYMOUS) return { status, path: m!.path };
  return { status };
}

const show = (a: RefAnswer) => ({ ...a, status: lookupFailure(a.status as never) ?? "ok" });

/**
 * Checks the slots of a batch (`out`): equal slots exactly for the same mapping, -1 exactly for
 * none; and that a batch without per-address mappings (`lean`) answers the same, its
 * `mappingOf(slot)` each address's mapping.
 */
function slotsAgree(out: LookupResults, lean: LookupResults, where: string): void {
  const bySlot = new Map<number, unknown>();
  const byMapping = new Map<unknown, number>();
  for (let i = 0; i < out.capacity; i++) {
    const slot = out.slot[i]!;
    const m = out.mapping[i];
    if (slot !== lean.slot[i] || out.status[i] !== lean.status[i] || out.fileOffset[i] !== lean.fileOffset[i])
      expect([lean.slot[i], lean.status[i], lean.fileOffset[i]], `${where}, address ${i}: the lean batch`).toEqual([
        slot,
        out.status[i],
        out.fileOffset[i],
      ]);
    if (slot < 0 !== (m === undefined)) expect(slot, `${where}, address ${i}: slot without a mapping`).toBe(-1);
    if (m === undefined) continue;
    if ((bySlot.get(slot) ?? m) !== m || (byMapping.get(m) ?? slot) !== slot || lean.mappingOf(slot) !== m)
      expect.fail(`${where}, address ${i}: slot ${slot} is not one mapping`);
    bySlot.set(slot, m);
    byMapping.set(m, slot);
  }
}

/** Checks two answers are equal; cheap when they are (an expect per address would dominate the run). */
function same(mine: RefAnswer, theirs: RefAnswer, where: string): void {
  if (
    mine.status !== theirs.status ||
    mine.key !== theirs.key ||
    mine.path !== theirs.path ||
    mine.fileOffset !== theirs.fileOffset
  ) {
    expect(show(mine), where).toEqual(show(theirs));
  }
}

/** What the model's spaces hold, counted from their layouts (white-box): each distinct chunk once, each distinct layout's built tree once. */
function held(model: AddressSpaces): { mappings: number; bytes: number } {
  const chunks = new Set<Chunk>();
  const layouts = new Set<Layout>();
  for (const newest of [model.kernel, ...model.spaces()]) {
    for (let space: AddressSpace | undefined = newest; space !== undefined; space = space.previous) {
      const layout = (space as unknown as { layout: Layout }).layout;
      layouts.add(layout);
      for (const chunk of layout.chunks) chunks.add(chunk);
    }
  }
  let mappings = 0;
  let bytes = 0;
  for (const chunk of chunks) {
    mappings += chunk.mappings.length;
    bytes += chunk.bytes;
  }
  for (const layout of layouts) if (layout.flatBuilt && layout.flat() !== null) bytes += flatTreeBytes(layout.size);
  return { mappings, bytes };
}

/**
 * Feeds `sequence` to a model with `options` and to the reference; after each event compares their
 * answers with `compare`, and checks that one file id never names two files.
 */
function run(
  sequence: SpaceEvent[],
  options: AddressSpacesOptions,
  compare: (model: RefAnswer, reference: RefAnswer, where: string) => void,
): void {
  const model = new AddressSpaces(options);
  const reference = new Reference();
  const out = new LookupResults(ADDRESSES.length);
  const lean = new LookupResults(ADDRESSES.length, { perAddress: false });
  const idKeys = new Map<number, string>();
  sequence.forEach((event, step) => {
    model.apply(event);
    reference.apply(event);
    const { mappings, bytes } = model.stats();
    expect({ mappings, bytes }, `step ${step}: what the model counts as held`).toEqual(held(model));
    // Now, and one past time: 0 (before everything) or the time of an earlier event.
    const times = [undefined, step % 4 === 0 ? 0n : sequence[(step * 5) % (step + 1)]!.time];
    for (const p of [...PIDS, KERNEL_PID, 99]) {
      for (const time of times) {
        model.lookupMany(p, ADDRESSES, out, time);
        model.lookupMany(p, ADDRESSES, lean, time);
        slotsAgree(out, lean, `step ${step} (${event.type}), pid ${p} at ${time}`);
        for (let i = 0; i < ADDRESSES.length; i++) {
          const where = `step ${step} (${event.type}), pid ${p}, 0x${ADDRESSES[i]!.toString(16)} at ${time}`;
          const mine = answerAt(out, i);
          compare(mine, reference.lookup(p, ADDRESSES[i]!, time), where);
          if (out.status[i] === LookupStatus.OK) {
            const key = idKeys.get(out.fileId[i]!) ?? mine.key!;
            if (key !== mine.key) expect(key, `${where}: file id ${out.fileId[i]} names two files`).toBe(mine.key);
            idKeys.set(out.fileId[i]!, key);
          }
        }
        // The single form agrees with the batch form.
        const i = (step * 7 + p + 1) % ADDRESSES.length;
        const one = model.lookup(p, ADDRESSES[i]!, time);
        expect(one.ok ? "ok" : one.reason).toBe(lookupFailure(out.status[i] as never) ?? "ok");
        if (one.ok) expect(one.fileOffset).toBe(out.fileOffset[i]);
      }
    }
  });
}

describe("random event sequences against the naive reference", () => {
  test("with room for everything, every answer equals the reference's, after every event", () => {
    fc.assert(
      fc.property(fc.array(untimed, { maxLength: 30, size: "max" }), (list) => {
        run(events(list), { keepEnded: 1024 }, same);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test("under tiny limits, an answer the model gives is the reference's; limits only turn answers into failures", () => {
    const options = { maxProcesses: 2, maxMappingsPerSpace: 3, maxBytes: 6 * 300, maxFiles: 2, keepEnded: 1 };
    let failedOnly = 0;
    fc.assert(
      fc.property(fc.array(untimed, { maxLength: 30, size: "max" }), (list) => {
        run(events(list), options, (mine, theirs, where) => {
          // Samples come only from processes that were alive at their time.
          if (theirs.status === LookupStatus.NO_PROCESS || theirs.status === LookupStatus.EXITED) return;
          if (mine.status === LookupStatus.OK || mine.status === LookupStatus.ANONYMOUS) {
            same(mine, theirs, where);
          } else if (theirs.status === LookupStatus.OK) {
            failedOnly++;
          }
        });
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // The limits did bite: some answers the reference had, the model could no longer give.
    expect(failedOnly).toBeGreaterThan(0);
  });
});

test("a space of thousands of mappings, in many chunks, stays exact through splits, merges and wide unmaps", () => {
  // The oracle: one slot per page (every range here is page-aligned), written in event order.
  const next = mulberry32(SEED);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const PAGES = 6000;
  const base = BASES[1]!;
  const pages: ({ start: bigint; pgoff: bigint; key: string; path: string; anonymous: boolean } | undefined)[] =
    new Array(PAGES).fill(undefined);
  const model = new AddressSpaces();
  const addresses = BigUint64Array.from(
    { length: 2 * PAGES },
    (_, i) => base + BigInt(i >> 1) * PAGE + (i & 1 ? PAGE - 1n : 0n),
  );
  const out = new LookupResults(addresses.length);
  let largest = 0;
  for (let step = 1; step <= 5000; step++) {
    if (step === 1 || step === 2500) {
      // A snapshot of every other page, each its own mapping: a layout of thousands built at once.
      const mappings: MappingFields[] = [];
      pages.fill(undefined);
      for (let p = step === 1 ? 0 : 1; p < PAGES; p += 2) {
        const { path, file } = pick(FILES);
        const m = { start: base + BigInt(p) * PAGE, length: PAGE, pgoff: pick(PGOFFS), prot: 5, flags: 2, path, file };
        mappings.push(m);
        pages[p] = {
          start: m.start,
          pgoff: m.pgoff,
          key: fileKey(file, path),
          path,
          anonymous: path === "//anon" || path === "[heap]",
        };
      }
      model.apply({ type: "snapshot", time: BigInt(step), pid: 1, mappings: mappings.reverse() });
      continue;
    }
    const first = Math.floor(next() * PAGES);
    const count = Math.min(PAGES - first, 1 + Math.floor(next() * (next() < 0.01 ? 800 : 3)));
    const start = base + BigInt(first) * PAGE;
    const length = BigInt(count) * PAGE;
    if (next() < 0.85) {
      const { path, file } = pick(FILES);
      const pgoff = pick(PGOFFS);
      model.apply({
        type: "map",
        time: BigInt(step),
        pid: 1,
        tid: 1,
        start,
        length,
        pgoff,
        prot: 5,
        flags: 2,
        path,
        file,
      });
      const entry = { start, pgoff, key: fileKey(file, path), path, anonymous: path === "//anon" || path === "[heap]" };
      pages.fill(entry, first, first + count);
    } else {
      model.apply({ type: "unmap", time: BigInt(step), pid: 1, start, length });
      pages.fill(undefined, first, first + count);
    }
    largest = Math.max(largest, model.space(1)?.size ?? 0);
    if (step % 250 !== 0) continue;
    model.lookupMany(1, addresses, out, BigInt(step));
    for (let i = 0; i < addresses.length; i++) {
      const a = addresses[i]!;
      const page = pages[i >> 1];
      const theirs: RefAnswer =
        page === undefined
          ? { status: LookupStatus.NO_MAPPING }
          : page.anonymous
            ? { status: LookupStatus.ANONYMOUS, path: page.path }
            : {
                status: LookupStatus.OK,
                key: page.key,
                path: page.path,
                fileOffset: BigInt.asUintN(64, a - page.start + page.pgoff),
              };
      same(answerAt(out, i), theirs, `step ${step}, 0x${a.toString(16)}`);
    }
    expect(model.stats().mappings).toBe(model.space(1)!.size);
  }
  // Past two chunks: the top-level search and the chunk splits and merges were exercised.
  expect(largest).toBeGreaterThan(2 * CHUNK_MAX);
});
