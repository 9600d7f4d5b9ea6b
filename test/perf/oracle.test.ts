// The reader against perf itself: recordings made here by `perf record` (file and pipe mode, with and
// without --buildid-mmap and -z), read whole, as chunks and as a Blob, ordered, and compared record for
// record with what `perf script -D` delivers and with `perf buildid-list`.
import { mkdtempSync, openAsBlob, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import {
  orderRecords,
  orderRecordsAsync,
  type PerfRecord,
  readPerfData,
  streamPerfData,
} from "../../src/perf/index.js";
import { expectSameAsPerf } from "../helpers/perf-compare.js";
import {
  LIGHT_WORKLOAD,
  perfBuildIdList,
  perfCannotRecord,
  perfDump,
  perfRecord,
  WORKLOAD,
} from "../helpers/perf-tools.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

const dir = mkdtempSync(join(tmpdir(), "perf-oracle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipping the perf oracle tests: ${cannot}`);

/** The input cut into chunks of random sizes (1 byte to 64 KiB), so records and headers straddle chunks. */
function* chunks(bytes: Uint8Array, next: () => number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(next() ** 3 * 65536);
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

const cases: { name: string; args: string[]; pipe: boolean; inject?: boolean }[] = [
  { name: "file mode", args: [], pipe: false },
  { name: "file mode, --buildid-mmap", args: ["--buildid-mmap"], pipe: false },
  { name: "pipe mode", args: [], pipe: true },
  { name: "pipe mode, --buildid-mmap", args: ["--buildid-mmap"], pipe: true },
  { name: "file mode, -z", args: ["-z"], pipe: false },
  { name: "pipe mode, -z", args: ["-z"], pipe: true },
  { name: "pipe mode through perf inject -b (HEADER_BUILD_ID records)", args: [], pipe: true, inject: true },
  {
    name: "file mode, every sample field perf adds for cpu-clock (dwarf stacks, registers, CPU, ADDR, IDENTIFIER, page sizes, ...)",
    args: [
      "--call-graph",
      "dwarf,1024",
      "--sample-cpu",
      "-d",
      "--sample-identifier",
      "--phys-data",
      "--data-page-size",
      "--code-page-size",
      "-W",
      "--intr-regs",
      "-s",
    ],
    pipe: false,
  },
];

describe.skipIf(cannot !== undefined)(
  "perf record -e cpu-clock -g, read and ordered as perf script -D delivers it",
  () => {
    const seed = seedFrom("PERF_ORACLE_SEED", "perf oracle chunking");
    test.each(cases)("$name", async ({ name, args, pipe, inject }) => {
      const file = join(dir, `${name.replace(/\W+/g, "-").slice(0, 40)}.data`);
      // perf inject -b keeps WORKLOAD: on LIGHT_WORKLOAD, one run in two had 7 IDs in the table to perf buildid-list's 6.
      perfRecord(file, args, { pipe, inject, workload: inject ? WORKLOAD : LIGHT_WORKLOAD });
      const bytes = new Uint8Array(readFileSync(file));
      const data = readPerfData(bytes);
      expect(data.session.mode).toBe(pipe ? "pipe" : "file");
      const ordered = [...orderRecords(data.records())];
      const compared = expectSameAsPerf(ordered, perfDump(file), pipe ? 16 : 0);
      console.log(`${name}: ${bytes.length} bytes, ${compared.records} records compared`, compared.byKind);
      expect(compared.samples).toBeGreaterThan(50);
      expect(compared.chains).toBe(compared.samples);
      for (const kind of ["mmap2", "comm", "fork", "exit"]) expect(compared.byKind[kind], kind).toBeGreaterThan(0);
      const mmap2 = ordered.filter((r) => r.kind === "mmap2");
      const buildIdForm = mmap2.filter((r) => r.identity.kind === "build-id").length;
      expect(buildIdForm > 0).toBe(args.includes("--buildid-mmap"));
      if (args.includes("-z")) expect(ordered.some((r) => r.kind === "compressed")).toBe(true);
      if (inject) expect(ordered.filter((r) => r.kind === "header-build-id").length).toBe(data.session.buildIds.length);

      const table = data.session.buildIds.map((e) => `${e.buildId} ${e.filename}`).sort();
      const listed = perfBuildIdList(file);
      if (args.includes("--buildid-mmap")) {
        // No build-ID table then: perf lists the IDs the MMAP2 records carry (the kernel's as [kernel.kallsyms]).
        expect(table).toEqual([]);
        const fromRecords = new Set(
          mmap2.map(
            (r) => `${r.identity.kind === "build-id" ? r.identity.buildId : "-"} ${r.filename.replace(/_text$/, "")}`,
          ),
        );
        expect(listed.length).toBeGreaterThan(0);
        for (const line of listed) expect(fromRecords, line).toContain(line);
      } else expect(table).toEqual(listed);

      const next = mulberry32(seed);
      const streamed: PerfRecord[] = [];
      const stream = streamPerfData(chunks(bytes, next));
      for await (const record of orderRecordsAsync(stream.records())) streamed.push(record);
      expect(streamed).toEqual(ordered);
      expect(stream.session?.buildIds).toEqual(data.session.buildIds);
      const fromBlob: PerfRecord[] = [];
      for await (const record of orderRecordsAsync(streamPerfData(await openAsBlob(file)).records()))
        fromBlob.push(record);
      expect(fromBlob).toEqual(ordered);
    });
  },
);
