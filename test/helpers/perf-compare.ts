// Compares this reader's records with perf's: each record in perf's `-D` text, and the delivery order.
import { expect } from "vitest";
import type { PerfRecord } from "../../src/perf/index.js";
import type { DumpedRecord } from "./perf-tools.js";

const hex = (v: bigint | number): string => (v === 0n || v === 0 ? "0" : `0x${v.toString(16)}`);

/** A record as perf's `-D` prints it after `PERF_RECORD_` (perf_event__fprintf_* and dump_sample), for the kinds compared. */
export function perfText(r: PerfRecord): string | undefined {
  switch (r.kind) {
    case "sample":
      return `SAMPLE(IP, 0x${r.misc.toString(16)}): ${r.pid}/${r.tid}: ${hex(r.ip ?? 0n)} period: ${r.period} addr: ${hex(r.addr ?? 0n)}`;
    case "mmap":
      return `MMAP ${r.pid}/${r.tid}: [${hex(r.start)}(${hex(r.len)}) @ ${hex(r.pgoff)}]: ${r.misc & (1 << 13) ? "r" : "x"} ${r.filename}`;
    case "mmap2": {
      const id =
        r.identity.kind === "build-id"
          ? `<${r.identity.buildId}>`
          : `${r.identity.maj.toString(16).padStart(2, "0")}:${r.identity.min.toString(16).padStart(2, "0")} ${r.identity.ino} ${r.identity.inoGeneration}`;
      const prot = `${r.prot & 1 ? "r" : "-"}${r.prot & 2 ? "w" : "-"}${r.prot & 4 ? "x" : "-"}${r.flags & 1 ? "s" : "p"}`;
      return `MMAP2 ${r.pid}/${r.tid}: [${hex(r.start)}(${hex(r.len)}) @ ${hex(r.pgoff)} ${id}]: ${prot} ${r.filename}`;
    }
    case "comm":
      return `COMM${r.exec ? " exec" : ""}: ${r.comm}:${r.pid}/${r.tid}`;
    case "fork":
    case "exit":
      return `${r.kind.toUpperCase()}(${r.pid}:${r.tid}):(${r.ppid}:${r.ptid})`;
    default:
      return undefined;
  }
}

/** What was compared, for the test to show and to assert it compared something. */
export interface Compared {
  records: number;
  samples: number;
  chains: number;
  byKind: Record<string, number>;
}

/**
 * Expects `ours` (ordered, compressed records included) to be perf's delivery sequence `dump` record for
 * record: offset, size and type in the same order; time, fields and call chain equal for the kinds compared.
 * `offsetShift` is added to perf's offsets (pipe mode: perf counts from the end of the 16-byte pipe header).
 */
export function expectSameAsPerf(ours: PerfRecord[], dump: DumpedRecord[], offsetShift = 0): Compared {
  const mine = ours.filter((r) => r.kind !== "compressed");
  expect(mine.map((r) => `${r.offset}:${r.size}:${r.type}`)).toEqual(
    dump.map((d) => `${d.offset + offsetShift}:${d.size}:${d.type}`),
  );
  const compared: Compared = { records: mine.length, samples: 0, chains: 0, byKind: {} };
  mine.forEach((r, i) => {
    const d = dump[i]!;
    const text = perfText(r);
    if (text === undefined) return;
    compared.byKind[r.kind] = (compared.byKind[r.kind] ?? 0) + 1;
    expect(`${d.name}${d.text}`, `record ${i} at ${r.offset}`).toBe(text);
    expect(r.time ?? 0n, `time of record ${i} at ${r.offset}`).toBe(d.time);
    if (r.kind === "sample") {
      compared.samples++;
      expect(r.callchain ? [...r.callchain] : undefined, `callchain of sample ${i} at ${r.offset}`).toEqual(d.chain);
      if (r.callchain) compared.chains++;
    }
  });
  return compared;
}
