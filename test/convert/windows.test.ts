// The converter's windows (src/convert/windows.ts) against perf's ordering as src/perf/order.ts keeps it, on
// random pipe streams: events and samples out of time order within rounds, ties in time, rounds of many
// events, and half flushes past a small queue bound. Between two events the windows deliver a set of samples
// (perf's order within it does not matter to aggregation); it must be perf's set, and in arrival order, as
// the converter's stacks are numbered in the order they are first met.
import { describe, expect, test } from "vitest";
import { HEADER_WORDS, type SampleArena, W } from "../../src/convert/sample-arena.js";
import { RoundWindows } from "../../src/convert/windows.js";
import { orderRecords, readPerfData } from "../../src/perf/index.js";
import type { PerfRecord } from "../../src/perf/records.js";
import { attrRecord, CPU_CLOCK_G, le, pipeStream, record, text } from "../helpers/perf-writer.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

const USER = 2;
const FINISHED_ROUND = 68;
/** Sample IPs start here; sample i has IP BASE + i. */
const BASE = 0x400000n;

/** A random stream: `n` records, COMM events (named by their index) and samples (IP by theirs), a FINISHED_ROUND at `roundEvery`'s rate. */
function stream(next: () => number, n: number, roundEvery: number): Uint8Array {
  const records: number[][] = [attrRecord(CPU_CLOCK_G, [], true)];
  let clock = 1000;
  let samples = 0;
  let events = 0;
  for (let i = 0; i < n; i++) {
    const r = next();
    if (next() < roundEvery) {
      records.push(record(FINISHED_ROUND, []));
      continue;
    }
    clock += Math.floor(next() * 4);
    // Late records (up to 40 ticks back) and ties in time.
    const time = BigInt(Math.max(1, clock - (next() < 0.3 ? Math.floor(next() * 40) : 0)));
    const pid = 1 + Math.floor(next() * 3);
    if (r < 0.2) {
      const trailer = [...le(4, pid, pid), ...le(8, time)];
      records.push(record(3, [...le(4, pid, pid), ...text(`e${events++}`), ...trailer]));
    } else {
      const ip = BASE + BigInt(samples++);
      const chain = [0xfffffffffffffe00n, ip, 0x401000n + BigInt(Math.floor(next() * 5))];
      records.push(
        record(9, [...le(8, ip), ...le(4, pid, pid), ...le(8, time, 1n, chain.length), ...le(8, ...chain)], USER),
      );
    }
  }
  return pipeStream(...records);
}

/** What is delivered: events by name, and between them the samples' numbers in delivery order. */
type Trace = (string | number[])[];

function traceOf(deliveries: ({ event: string } | { samples: number[] })[]): Trace {
  const out: Trace = [];
  for (const d of deliveries) {
    if ("event" in d) out.push(d.event);
    else if (d.samples.length > 0) {
      const last = out[out.length - 1];
      if (Array.isArray(last)) last.push(...d.samples);
      else out.push([...d.samples]);
    }
  }
  return out;
}

function eventName(r: PerfRecord): string | undefined {
  return r.kind === "comm" ? r.comm : undefined;
}

/** perf's order, with the samples between two events sorted by arrival (their number). */
function reference(bytes: Uint8Array, maxQueuedEvents: number): Trace {
  const data = readPerfData(bytes);
  const out: ({ event: string } | { samples: number[] })[] = [];
  for (const r of orderRecords(data.records(), { maxQueuedEvents })) {
    if (r.kind === "sample") out.push({ samples: [Number(r.ip! - BASE)] });
    else {
      const name = eventName(r);
      if (name !== undefined) out.push({ event: name });
    }
  }
  return sorted(traceOf(out));
}

/** The trace with each run of samples between two events sorted. */
function sorted(trace: Trace): Trace {
  for (const part of trace) if (Array.isArray(part)) part.sort((a, b) => a - b);
  return trace;
}

function windowed(bytes: Uint8Array, maxQueuedEvents: number, raw?: unknown[]): Trace {
  const data = readPerfData(bytes);
  const out: ({ event: string } | { samples: number[] })[] = [];
  const windows = new RoundWindows(
    {
      event: (r) => {
        const name = eventName(r);
        if (name !== undefined) out.push({ event: name });
      },
      samples: (arena: SampleArena, starts: Int32Array, count: number) => {
        const taken: number[] = [];
        for (let k = 0; k < count; k++) {
          const at = starts[k]!;
          expect(arena.words[at + W.NR]).toBe(3);
          expect(arena.words[at + HEADER_WORDS + 2]).toBe(arena.words[at + W.IP_LO]);
          taken.push(arena.words[at + W.IP_LO]! - Number(BASE));
        }
        out.push({ samples: taken });
      },
    },
    { maxQueuedEvents },
  );
  for (const raw of data.rawRecords()) windows.push(raw, data.session);
  windows.finish();
  if (raw) raw.push(...out);
  return sorted(traceOf(out));
}

describe("RoundWindows", () => {
  test("delivers perf's events in perf's order, and between two events perf's samples, on random streams", () => {
    const seed = seedFrom("WINDOWS_SEED", "windows");
    const next = mulberry32(seed);
    for (let run = 0; run < 40; run++) {
      // Rounds of a few records, or of more than partition's and liveWords' runs (256 samples).
      const bytes = stream(next, 50 + Math.floor(next() * 1500), next() < 0.5 ? 0.04 : 0.002);
      // Half flushes past a small bound, or none.
      const maxQueued = next() < 0.5 ? 4 + Math.floor(next() * 40) : 250_000;
      const expected = reference(bytes, maxQueued);
      expect(windowed(bytes, maxQueued), `WINDOWS_SEED=${seed} run ${run} maxQueued ${maxQueued}`).toEqual(expected);
    }
  });
});
