// Compares this reader's records with perf's: each record in perf's `-D` text, and the delivery order.
import { expect } from "vitest";
import type { PerfRecord } from "../../src/perf/index.js";
import type { DumpedRecord } from "./perf-tools.js";

const hex = (v: bigint | number): string => (v === 0n || v === 0 ? "0" : `0x${v.toString(16)}`);

const bswap32 = (v: number): number =>
  (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

/**
 * A record as perf's `-D` prints it after `PERF_RECORD_` (perf_event__fprintf_* and dump_sample), for the
 * kinds compared. `crossEndian`: perf's perf_event__mmap2_swap leaves MMAP2's prot and flags unswapped, so
 * on a file of the other byte order perf prints them byte-swapped.
 */
export function perfText(r: PerfRecord, crossEndian = false): string | undefined {
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
      const [p, f] = crossEndian ? [bswap32(r.prot), bswap32(r.flags)] : [r.prot, r.flags];
      const prot = `${p & 1 ? "r" : "-"}${p & 2 ? "w" : "-"}${p & 4 ? "x" : "-"}${f & 1 ? "s" : "p"}`;
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
export function expectSameAsPerf(
  ours: PerfRecord[],
  dump: DumpedRecord[],
  offsetShift = 0,
  crossEndian = false,
): Compared {
  const mine = ours.filter((r) => r.kind !== "compressed");
  expect(mine.map((r) => `${r.offset}:${r.size}:${r.type}`)).toEqual(
    dump.map((d) => `${d.offset + offsetShift}:${d.size}:${d.type}`),
  );
  const compared: Compared = { records: mine.length, samples: 0, chains: 0, byKind: {} };
  mine.forEach((r, i) => {
    const d = dump[i]!;
    const text = perfText(r, crossEndian);
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
