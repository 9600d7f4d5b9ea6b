// Both byte orders: a recording made here is rewritten big-endian by a test helper; perf itself must read
// the big-endian file, and this reader must give perf's records for it and the same records as for the
// little-endian original.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { orderRecords, type PerfRecord, readPerfData } from "../../src/perf/index.js";
import { expectSameAsPerf } from "../helpers/perf-compare.js";
import { swapToBigEndian } from "../helpers/perf-swap.js";
import { perfBuildIdList, perfCannotRecord, perfDump, perfRecord } from "../helpers/perf-tools.js";

const dir = mkdtempSync(join(tmpdir(), "perf-endian-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipping the cross-endian tests: ${cannot}`);

/** The records the swap keeps, without their offsets (dropped records move the others). */
const comparable = (records: PerfRecord[]) =>
  records
    .filter((r) =>
      ["mmap", "mmap2", "comm", "fork", "exit", "lost", "sample", "finished-round", "finished-init"].includes(r.kind),
    )
    .map(({ offset: _, ...rest }) => rest);

describe.skipIf(cannot !== undefined)("a big-endian perf.data made from a recording", () => {
  test.each([
    { name: "inode MMAP2", args: [] },
    { name: "build-ID MMAP2", args: ["--buildid-mmap"] },
  ])("perf reads it, and this reader gives perf's records and the original's ($name)", ({ name, args }) => {
    const little = join(dir, `${name.replace(/\W/g, "")}.le.data`);
    const big = join(dir, `${name.replace(/\W/g, "")}.be.data`);
    perfRecord(little, args);
    const le = new Uint8Array(readFileSync(little));
    const be = swapToBigEndian(le);
    writeFileSync(big, be);

    const data = readPerfData(be);
    expect(data.session.littleEndian).toBe(false);
    const ordered = [...orderRecords(data.records())];
    const compared = expectSameAsPerf(ordered, perfDump(big), 0, true);
    expect(compared.samples).toBeGreaterThan(50);
    expect(compared.chains).toBe(compared.samples);

    const original = readPerfData(le);
    expect(comparable(ordered)).toEqual(comparable([...orderRecords(original.records())]));
    expect(data.session.attrs).toEqual(original.session.attrs);
    expect(data.session.buildIds.map(({ offset: _, ...e }) => e)).toEqual(
      original.session.buildIds.map(({ offset: _, ...e }) => e),
    );
    // With --buildid-mmap there is no table: perf lists the MMAP2 IDs, and finds none in the swapped file.
    if (args.length === 0) expect(perfBuildIdList(big)).toEqual(perfBuildIdList(little));
  });
});
