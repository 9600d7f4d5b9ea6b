// perf's ordering: the rounds, the half flush under a queue bound and records without a time, against
// the order perf itself delivers (perf script -D, perf report -D with report.queue-size), on recordings
// made here and on recordings whose times were scrambled.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { OrderedEvents, orderRecords, type PerfRecord, readPerfData, Sample } from "../../src/perf/index.js";
import { perfCannotRecord, perfDump, perfOutOfOrder, perfRecord } from "../helpers/perf-tools.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

const dir = mkdtempSync(join(tmpdir(), "perf-order-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipping the perf ordering tests: ${cannot}`);

const sequence = (records: PerfRecord[]) =>
  records.filter((r) => r.kind !== "compressed").map((r) => `${r.offset}:${r.size}:${r.type}`);

/** perf 6.x queues in 64 KiB buffers of 1,365 48-byte ordered_event slots; a queue-size under two buffers allows one. */
const PERF_SLOTS_PER_BUFFER = Math.floor(65536 / 48);

/**
 * A copy of a little-endian file-mode recording with every kernel record's time replaced by `retime`
 * (samples' TIME and the sample_id time of the others), found through this reader's parse.
 */
function retimed(bytes: Uint8Array, retime: (time: bigint) => bigint): Uint8Array {
  const copy = bytes.slice();
  const view = new DataView(copy.buffer);
  const data = readPerfData(bytes);
  const attr = data.session.attrs[0]!;
  const t = attr.sampleType;
  const before = [Sample.IDENTIFIER, Sample.IP, Sample.TID].filter((bit) => t & bit).length * 8;
  const trailer =
    [Sample.TID, Sample.TIME, Sample.ID, Sample.STREAM_ID, Sample.CPU, Sample.IDENTIFIER].filter((bit) => t & bit)
      .length * 8;
  for (const raw of data.rawRecords()) {
    if (raw.type >= 64) continue;
    const at = raw.type === 9 ? raw.offset + 8 + before : raw.offset + raw.size - trailer + (t & Sample.TID ? 8 : 0);
    view.setBigUint64(at, retime(view.getBigUint64(at, true)), true);
  }
  return copy;
}

describe.skipIf(cannot !== undefined)("the order perf delivers records in", () => {
  const file = join(dir, "recording.data");
  const recording = () => {
    perfRecord(file, []);
    return new Uint8Array(readFileSync(file));
  };

  test("under report.queue-size, perf's half flush (times jittered): the same order with the queue bounded to perf's slots", () => {
    const next = mulberry32(seedFrom("PERF_HALF_SEED", "perf half flush jitter"));
    const bytes = retimed(recording(), (time) => time + BigInt(Math.floor((next() - 0.5) * 4e6)));
    writeFileSync(file, bytes);
    const ordered: PerfRecord[] = [];
    const events = new OrderedEvents<PerfRecord>((r) => ordered.push(r), { maxQueuedEvents: PERF_SLOTS_PER_BUFFER });
    for (const record of readPerfData(bytes).records()) events.push(record);
    events.flushFinal();
    expect(events.stats.halfFlushes).toBeGreaterThan(0);
    expect(events.stats.maxQueued).toBeLessThanOrEqual(PERF_SLOTS_PER_BUFFER);
    expect(sequence(ordered)).toEqual(perfDump(file, 70_000).map((d) => `${d.offset}:${d.size}:${d.type}`));
  });

  test("scrambled times (jitter across rounds, some 0 and 2^64 - 1): the order perf script delivers", () => {
    const next = mulberry32(seedFrom("PERF_ORDER_SEED", "perf order scramble"));
    const bytes = retimed(recording(), (time) => {
      const roll = next();
      if (roll < 0.02) return 0n;
      if (roll < 0.03) return (1n << 64n) - 1n;
      return time + BigInt(Math.floor((next() - 0.5) * 4e6));
    });
    const scrambled = join(dir, "scrambled.data");
    writeFileSync(scrambled, bytes);
    const out: PerfRecord[] = [];
    const events = new OrderedEvents<PerfRecord>((r) => out.push(r));
    for (const record of readPerfData(bytes).records()) events.push(record);
    events.flushFinal();
    expect(events.stats.unordered).toBe(perfOutOfOrder(scrambled));
    expect(sequence(out)).toEqual(perfDump(scrambled).map((d) => `${d.offset}:${d.size}:${d.type}`));
    expect(sequence([...orderRecords(readPerfData(bytes).records())])).toEqual(sequence(out));
  });
});

describe("the orderer on its own", () => {
  const rec = (type: number, time: bigint | undefined, size = 8) => ({ type, time, size });

  test("equal times keep their arrival order; records without a time, or at 0 or 2^64 - 1, go out at once", () => {
    const out: { type: number; time: bigint | undefined }[] = [];
    const events = new OrderedEvents((r) => out.push(r));
    const a = rec(9, 5n);
    const b = rec(9, 5n);
    const c = rec(9, 3n);
    for (const r of [a, b, rec(3, undefined), c, rec(9, 0n), rec(9, (1n << 64n) - 1n)]) events.push(r);
    expect(out.map((r) => r.time)).toEqual([undefined, 0n, (1n << 64n) - 1n]);
    events.flushFinal();
    expect(out.slice(3)).toEqual([c, a, b]);
  });

  test("the byte bound half-flushes too, and the queue never holds more than its bounds", () => {
    const out: unknown[] = [];
    const events = new OrderedEvents((r) => out.push(r), { maxQueuedBytes: 1000 });
    for (let i = 1; i <= 500; i++) events.push(rec(9, BigInt(i), 100));
    expect(events.stats.maxQueued).toBeLessThanOrEqual(10);
    expect(events.stats.halfFlushes).toBeGreaterThan(0);
    events.flushFinal();
    expect(out).toHaveLength(500);
  });

  test("PF14 bad bounds are refused by name", () => {
    expect(() => new OrderedEvents(() => {}, { maxQueuedEvents: 0 })).toThrow(
      "maxQueuedEvents must be an integer >= 1, got 0",
    );
  });
});
