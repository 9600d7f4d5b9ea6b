// buildid-list -H's chain in WebAssembly (assembly/hits.ts) against the converter, whose windows and frame
// resolution are the reference, on random streams under each ordering rule: perf's rounds, the half flush
// past a small queue bound, input order without sample_id_all, samples read by JavaScript (two attributes),
// records cut across chunks and across the chain's 64 KiB window; and against perf on a big-endian file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, test } from "vitest";
import { listBuildIds } from "../../src/convert/buildid-list.js";
import { SpaceFeed } from "../../src/convert/feed.js";
import { convertPerfData } from "../../src/convert/index.js";
import { orderRecords, readPerfData } from "../../src/perf/index.js";
import { AddressSpaces, KERNEL_PID } from "../../src/spaces/index.js";
import { perfBuildIdLines } from "../helpers/perf-answers.js";
import { swapToBigEndian } from "../helpers/perf-swap.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";
import { attrRecord, le, pipeStream, record, text } from "../helpers/perf-writer.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

const USER = 2;
const KERNEL = 1;
const USER_MARK = 0xfffffffffffffe00n;
const KERNEL_MARK = 0xffffffffffffff80n;
const IDENTIFIER = 0x10000n;

/**
 * How a stream is written: one attribute (IP|TID|TIME|CALLCHAIN|PERIOD) or two that start their samples and
 * end their other records with an IDENTIFIER (the chain then leaves every sample to JavaScript), with or
 * without sample_id_all.
 */
interface Shape {
  attrs: 1 | 2;
  sampleIdAll: boolean;
}

function writer({ attrs, sampleIdAll }: Shape) {
  const type = attrs === 1 ? 0x127n : 0x127n | IDENTIFIER;
  const header =
    attrs === 1
      ? [attrRecord(type, [], sampleIdAll)]
      : [attrRecord(type, [11n], sampleIdAll), attrRecord(type, [12n], sampleIdAll)];
  const id = (pid: number) => (attrs === 1 ? [] : le(8, pid === 8 ? 12n : 11n));
  const trailer = (pid: number, time: bigint) => (sampleIdAll ? [...le(4, pid, pid), ...le(8, time), ...id(pid)] : []);
  return {
    header,
    mmap(pid: number, start: bigint, ino: number, path: string, time: bigint): number[] {
      const head = le(4, pid, pid).concat(le(8, start, 0x1000n, 0n));
      const file = le(4, 8, 1).concat(le(8, ino, 0));
      return record(10, [...head, ...file, ...le(4, 5, 2), ...text(path), ...trailer(pid, time)], USER);
    },
    exec: (pid: number, time: bigint) =>
      record(3, [...le(4, pid, pid), ...text("new"), ...trailer(pid, time)], 1 << 13),
    exit: (pid: number, time: bigint) =>
      record(4, [...le(4, pid, pid, pid, pid), ...le(8, time), ...trailer(pid, time)]),
    sample(pid: number, time: bigint, ip: bigint, misc = USER): number[] {
      const context = misc === KERNEL ? KERNEL_MARK : USER_MARK;
      return record(
        9,
        [...id(pid), ...le(8, ip), ...le(4, pid, pid), ...le(8, time, 1000n, 2n), ...le(8, context, ip)],
        misc,
      );
    },
  };
}

const round = () => record(68, []);

/** The stream's bytes as chunks of random sizes (1 byte to 3 KiB), so records and headers are cut anywhere. */
function* chunked(bytes: Uint8Array, next: () => number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + Math.floor(next() * (next() < 0.5 ? 16 : 3072));
    yield bytes.slice(at, at + n);
    at += n;
  }
}

/**
 * The files a sample's IP falls in, in a plain model of perf's delivery: the records in the order
 * `orderRecords` gives them (perf's ordered_events; input order without sample_id_all), each event fed to the address spaces, each sample
 * looked up in its cpumode's space at its time. Every file here has a path of its own.
 */
function reference(stream: Uint8Array, maxQueuedEvents: number | undefined, sampleIdAll: boolean): string[] {
  const spaces = new AddressSpaces();
  const feed = new SpaceFeed(spaces);
  const paths = new Map<number, string>();
  const hits = new Set<string>();
  const records = readPerfData(stream).records();
  // Without sample_id_all perf takes the records as they stand (order.ts).
  const order = maxQueuedEvents === undefined ? {} : { maxQueuedEvents };
  for (const r of sampleIdAll ? orderRecords(records, order) : records) {
    if (r.kind === "sample") {
      const mode = r.misc & 7;
      const pid = mode === KERNEL ? KERNEL_PID : mode === USER ? r.pid : undefined;
      const found = pid === undefined || r.ip === undefined ? undefined : spaces.lookup(pid, r.ip, r.time);
      if (found?.ok) hits.add(paths.get(found.fileId)!);
      continue;
    }
    const event = feed.push(r);
    if (event?.type !== "map" || r.kind !== "mmap2") continue;
    const found = spaces.lookup(event.pid, event.start, event.time);
    if (found.ok) paths.set(found.fileId, r.filename);
  }
  return [...hits].sort();
}

/**
 * The files with samples as the reference model finds them and as the converter counts them, and the names
 * `buildid-list -H` lists, from bytes and from chunks.
 */
async function both(stream: Uint8Array, maxQueuedEvents: number | undefined, seed: number, sampleIdAll = true) {
  const order = maxQueuedEvents === undefined ? {} : { maxQueuedEvents };
  const counted = (await convertPerfData(stream, { order })).summary.files
    .filter((f) => f.samples > 0)
    .map((f) => f.path)
    .sort();
  const names = async (source: Uint8Array | Iterable<Uint8Array>) =>
    (await listBuildIds(source, { withHits: true, order })).lines.map((l) => l.name).sort();
  return {
    model: reference(stream, maxQueuedEvents, sampleIdAll),
    counted,
    whole: await names(stream),
    chunks: await names(chunked(stream, mulberry32(seed))),
  };
}

describe("buildid-list -H marks exactly the files the converter counts samples in", () => {
  const seed = seedFrom("HITS_WASM_SEED", "buildid-list -H's chain against the converter");
  const event = fc.oneof(
    { arbitrary: fc.constant({ kind: "round" as const }), weight: 2 },
    {
      arbitrary: fc.record({
        kind: fc.constantFrom("exit" as const, "exec" as const),
        pid: fc.constantFrom(7, 8),
        time: fc.integer({ min: 1, max: 60 }),
      }),
      weight: 1,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant("mmap" as const),
        pid: fc.constantFrom(7, 8),
        page: fc.integer({ min: 0, max: 2 }),
        ino: fc.integer({ min: 1, max: 4 }),
        time: fc.integer({ min: 1, max: 60 }),
      }),
      weight: 3,
    },
    {
      arbitrary: fc.record({
        kind: fc.constant("sample" as const),
        pid: fc.constantFrom(7, 8),
        page: fc.integer({ min: 0, max: 3 }),
        time: fc.integer({ min: 0, max: 60 }),
        kernel: fc.boolean(),
      }),
      weight: 8,
    },
  );

  test.each([
    { name: "perf's rounds", attrs: 1, sampleIdAll: true, small: false },
    { name: "the half flush past a queue of 1-6 records", attrs: 1, sampleIdAll: true, small: true },
    { name: "input order without sample_id_all", attrs: 1, sampleIdAll: false, small: false },
    { name: "two attributes (samples read by JavaScript), half flushes", attrs: 2, sampleIdAll: true, small: true },
  ] as const)("on random streams: $name", async ({ attrs, sampleIdAll, small }) => {
    const w = writer({ attrs, sampleIdAll });
    await fc.assert(
      fc.asyncProperty(
        fc.array(event, { minLength: 4, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer(),
        async (events, bound, chunking) => {
          const records = events.map((e) => {
            if (e.kind === "round") return round();
            const time = BigInt(e.time);
            if (!("page" in e)) return e.kind === "exec" ? w.exec(e.pid, time) : w.exit(e.pid, time);
            const at = 0x400000n + 0x1000n * BigInt(e.page);
            if (!("kernel" in e)) return w.mmap(e.pid, at, e.ino, `/lib/${e.ino}.so`, time);
            // A kernel-mode sample marks the kernel's space, where nothing is mapped here: no file.
            return w.sample(e.pid, time, at + 0x10n, e.kernel ? KERNEL : USER);
          });
          const stream = pipeStream(...w.header, ...records, round());
          const { model, counted, whole, chunks } = await both(
            stream,
            small ? bound : undefined,
            chunking,
            sampleIdAll,
          );
          expect(whole).toEqual(model);
          expect(chunks).toEqual(model);
          expect(counted).toEqual(model);
        },
      ),
      { seed, numRuns: 150 },
    );
  });

  test("a sample whose queueing forces a half flush is kept (the converter's arena dropped it with the queue)", async () => {
    const w = writer({ attrs: 1, sampleIdAll: true });
    const stream = pipeStream(
      ...w.header,
      w.mmap(7, 0x400000n, 1, "/lib/1.so", 1n),
      w.sample(7, 1n, 0x400010n),
      w.sample(7, 1n, 0x10n, KERNEL),
      round(),
      w.sample(7, 1n, 0x10n, KERNEL),
      w.mmap(7, 0x400000n, 1, "/lib/1.so", 1n),
      round(),
    );
    const { model, counted, whole, chunks } = await both(stream, 1, seed);
    expect(model).toEqual(["/lib/1.so"]);
    expect(counted).toEqual(model);
    expect(whole).toEqual(model);
    expect(chunks).toEqual(model);
  });

  test("samples cut across the chain's 64 KiB window and the reader's 256 KiB slices, between maps of one range", async () => {
    // 12,000 samples of 72 bytes (860 KB): a file mapped, then another over the same range every 1,500 samples.
    const w = writer({ attrs: 1, sampleIdAll: true });
    const records: number[][] = [];
    let time = 1n;
    for (let i = 0; i < 12_000; i++) {
      if (i % 1500 === 0) records.push(w.mmap(7, 0x400000n, 1 + (i / 1500) * 3, `/lib/${i}.so`, time++), round());
      records.push(w.sample(7, time++, 0x400010n + BigInt(i % 4000)));
      // One in 700 lands where nothing is mapped: the cache must not answer it from its neighbour.
      if (i % 700 === 0) records.push(w.sample(7, time++, 0x401010n));
    }
    const stream = pipeStream(...w.header, ...records, round());
    expect(stream.length).toBeGreaterThan(4 * 65536);
    const { model, counted, whole, chunks } = await both(stream, undefined, seed);
    expect(model).toHaveLength(8);
    expect(counted).toEqual(model);
    expect(whole).toEqual(model);
    expect(chunks).toEqual(model);
  });
});

const dir = mkdtempSync(join(tmpdir(), "hits-wasm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipping buildid-list -H on a big-endian file against perf: ${cannot}`);

describe.skipIf(cannot !== undefined)("a big-endian perf.data made from a recording", () => {
  test("buildid-list -H lists what perf lists for it", async () => {
    const little = join(dir, "le.data");
    const big = join(dir, "be.data");
    perfRecord(little, []);
    writeFileSync(big, swapToBigEndian(new Uint8Array(readFileSync(little))));
    const expected = perfBuildIdLines(big, true);
    expect(expected.length).toBeGreaterThan(1);
    const text = (l: { buildId: string; name: string }) => `${l.buildId.padEnd(40)} ${l.name}`;
    const bytes = new Uint8Array(readFileSync(big));
    expect((await listBuildIds(bytes, { withHits: true })).lines.map(text)).toEqual(expected);
    expect((await listBuildIds(chunked(bytes, mulberry32(1)), { withHits: true })).lines.map(text)).toEqual(expected);
  });
});
