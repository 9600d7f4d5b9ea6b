// The converter on streams made by hand, where each rule can be seen alone: a sample meets the mapping of
// its time whatever order the records arrive in within a round, a PERF_RECORD_LOST makes older mappings
// untrusted, a call chain with a marker perf does not know is dropped (the IP kept), build IDs come from
// the most exact source and never from another file, and bad input ends in a typed error.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { listBuildIds } from "../../src/convert/buildid-list.js";
import { convertPerfData, InternLimitError, type ReadBuildId } from "../../src/convert/index.js";
import { PerfDataError } from "../../src/perf/index.js";
import { attrRecord, le, pipeStream, record, text } from "../helpers/perf-writer.js";
import { seedFrom } from "../helpers/random.js";

/** IP|TID|TIME|CALLCHAIN|PERIOD with sample_id_all: non-sample records end with pid, tid and time. */
const ATTR = attrRecord(0x127n);
const trailer = (pid: number, time: bigint) => le(4, pid, pid).concat(le(8, time));
const USER = 2;
const KERNEL = 1;

type File = { ino: number } | { buildId: string } | { v1: true };
function mmap(
  pid: number,
  start: bigint,
  len: bigint,
  pgoff: bigint,
  file: File,
  path: string,
  time: bigint,
  misc = USER,
) {
  const head = le(4, pid, pid).concat(le(8, start, len, pgoff));
  if ("v1" in file) return record(1, [...head, ...text(path), ...trailer(pid, time)], misc);
  const id =
    "ino" in file
      ? le(4, 8, 1).concat(le(8, file.ino, 0))
      : [
          file.buildId.length / 2,
          0,
          0,
          0,
          ...(file.buildId.match(/../g) ?? []).map((h) => Number.parseInt(h, 16)),
          ...new Array(20 - file.buildId.length / 2).fill(0),
        ];
  return record(
    10,
    [...head, ...id, ...le(4, 5, 2), ...text(path), ...trailer(pid, time)],
    misc | ("buildId" in file ? 1 << 14 : 0),
  );
}
function sample(pid: number, time: bigint, chain: bigint[], misc = USER) {
  return record(
    9,
    [
      ...le(8, chain.find((c) => c < 0xfffffffffffff000n) ?? 0n),
      ...le(4, pid, pid),
      ...le(8, time, 1000n, chain.length),
      ...le(8, ...chain),
    ],
    misc,
  );
}
const lost = (time: bigint) => record(2, [...le(8, 1n, 5n), ...trailer(-1, time)]);
const round = () => record(68, []);
function headerBuildId(path: string, buildId: string, misc = USER) {
  const id = (buildId.match(/../g) ?? []).map((h) => Number.parseInt(h, 16));
  return record(
    67,
    [...le(4, -1), ...id, ...new Array(20 - id.length).fill(0), id.length, 0, 0, 0, ...text(path)],
    misc | (1 << 15),
  );
}
const USER_MARK = 0xfffffffffffffe00n;

/** A reader that knows the build IDs of inodes 1 to 3, and counts its calls. */
function reader(): ReadBuildId & { calls: string[] } {
  const calls: string[] = [];
  const ids: Record<number, string> = { 1: "11".repeat(20), 2: "22".repeat(20), 3: "33".repeat(20) };
  const read: ReadBuildId = (file, path) => {
    calls.push(path);
    if (file.kind !== "inode") return { reason: "not a file" };
    return ids[Number(file.inode)] ?? { reason: "unknown" };
  };
  return Object.assign(read, { calls });
}

const byPath = (
  files: {
    path: string;
    buildId: string | undefined;
    samples: number;
    reason?: string | undefined;
    source?: string | undefined;
  }[],
) => Object.fromEntries(files.map((f) => [f.path, { samples: f.samples, buildId: f.buildId, source: f.source }]));

describe("a sample meets the mapping of its time", () => {
  test("records of one round arriving out of time order: the library mapped over another's range gets only the samples after it", async () => {
    // Two CPUs' buffers in one round: the second library's map (t=30) arrives before a sample of the first (t=20).
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/lib/a.so", 10n),
      round(),
      mmap(7, 0x400000n, 0x1000n, 0x2000n, { ino: 2 }, "/lib/b.so", 30n),
      sample(7, 40n, [USER_MARK, 0x400100n]),
      sample(7, 20n, [USER_MARK, 0x400123n]),
      round(),
      round(),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: reader() });
    expect(byPath(summary.files)).toEqual({
      "/lib/a.so": { samples: 1, buildId: "11".repeat(20), source: "read" },
      "/lib/b.so": { samples: 1, buildId: "22".repeat(20), source: "read" },
    });
  });

  test("a stack repeated before and after its range is mapped again resolves in the file of each sample's time, a late sample too", async () => {
    const chain = [USER_MARK, 0x400100n, 0x400200n, 0x400300n];
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/lib/a.so", 10n),
      ...[11n, 12n, 13n].map((t) => sample(7, t, chain)),
      round(),
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 2 }, "/lib/b.so", 30n),
      ...[31n, 32n, 33n, 34n].map((t) => sample(7, t, chain)),
      round(),
      round(),
      // Older than b's mapping, read after the rounds that delivered it and the samples after it: not b's.
      sample(7, 20n, chain),
      round(),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: reader() });
    expect(byPath(summary.files)["/lib/a.so"]!.samples).toBe(3);
    expect(byPath(summary.files)["/lib/b.so"]!.samples).toBe(4);
    expect(summary.samples).toBe(8);
    expect(summary.frames.total).toBe(24);
  });

  test("buildid-list --with-hits: an IP sampled before and after its range is mapped again hits both files", async () => {
    const ip = [USER_MARK, 0x400100n];
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/lib/a.so", 10n),
      ...[11n, 12n].map((t) => sample(7, t, ip)),
      round(),
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 2 }, "/lib/b.so", 30n),
      ...[31n, 32n].map((t) => sample(7, t, ip)),
      round(),
      round(),
    );
    const { lines } = await listBuildIds(stream, { withHits: true });
    expect(lines.map((l) => l.name)).toEqual(["/lib/a.so", "/lib/b.so"]);
  });

  test("buildid-list --with-hits: a sample arriving after its round, from before an exec, hits the old program's file, as the converter counts it", async () => {
    const exec = (time: bigint) => record(3, [...le(4, 7, 7), ...text("new"), ...trailer(7, time)], 1 << 13);
    const ip = [USER_MARK, 0x400010n];
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/bin/old", 1n),
      round(),
      exec(10n),
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 2 }, "/bin/new", 11n),
      sample(7, 12n, ip),
      round(),
      round(),
      sample(7, 5n, ip),
      round(),
    );
    const counted = (await convertPerfData(stream)).summary.files.filter((f) => f.samples > 0).map((f) => f.path);
    expect(counted.sort()).toEqual(["/bin/new", "/bin/old"]);
    const { lines } = await listBuildIds(stream, { withHits: true });
    expect(lines.map((l) => l.name)).toEqual(["/bin/old", "/bin/new"]);
  });

  test("exec ends the old program's space: the new one's samples never take the old one's file", async () => {
    const comm = (time: bigint) => record(3, [...le(4, 7, 7), ...text("new"), ...trailer(7, time)], 1 << 13);
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/bin/old", 10n),
      sample(7, 20n, [USER_MARK, 0x400010n]),
      comm(30n),
      sample(7, 40n, [USER_MARK, 0x400010n]),
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 2 }, "/bin/new", 50n),
      sample(7, 60n, [USER_MARK, 0x400010n]),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: reader() });
    expect(byPath(summary.files)).toEqual({
      "/bin/old": { samples: 1, buildId: "11".repeat(20), source: "read" },
      "/bin/new": { samples: 1, buildId: "22".repeat(20), source: "read" },
    });
    expect(summary.unresolved).toEqual({ "no-mapping": 1 });
  });

  test("after a PERF_RECORD_LOST, mappings older than the loss resolve no later sample (lost-events); newer ones do", async () => {
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/lib/a.so", 10n),
      sample(7, 20n, [USER_MARK, 0x400010n]),
      lost(25n),
      sample(7, 30n, [USER_MARK, 0x400010n]),
      mmap(7, 0x500000n, 0x1000n, 0n, { ino: 3 }, "/lib/c.so", 35n),
      sample(7, 40n, [USER_MARK, 0x500010n]),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: reader() });
    expect(summary.lost).toEqual({ records: 1, events: 5, samples: 0 });
    expect(summary.unresolved).toEqual({ "lost-events": 1 });
    expect(byPath(summary.files)["/lib/a.so"]!.samples).toBe(1);
    expect(byPath(summary.files)["/lib/c.so"]!.samples).toBe(1);
  });

  test("a frame cached after a PERF_RECORD_LOST holds on its side of the loss only: a late sample before it resolves, later ones do not", async () => {
    // The frame cache keeps the first loss after each frame's mapping: the sample at 40 caches 0x400010 as lost, the late
    // one at 20 (delivered after the loss: its round was flushed) resolves it again, 50 and 60 must not take that answer,
    // and the late one at 21 must not take theirs.
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/lib/a.so", 10n),
      lost(25n),
      sample(7, 40n, [USER_MARK, 0x400010n, 0x400021n]),
      round(),
      round(),
      sample(7, 20n, [USER_MARK, 0x400010n, 0x400021n]),
      sample(7, 50n, [USER_MARK, 0x400010n, 0x400021n]),
      sample(7, 60n, [USER_MARK, 0x400021n, 0x400010n + 1n]),
      sample(7, 21n, [USER_MARK, 0x400010n]),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: reader() });
    expect(summary.order?.unordered).toBeGreaterThan(0);
    expect(summary.unresolved).toEqual({ "lost-events": 3 });
    expect(summary.frames).toEqual({ total: 9, resolved: 3, unresolved: { "lost-events": 6 } });
    expect(byPath(summary.files)["/lib/a.so"]!.samples).toBe(2);
  });
});

describe("a repeated stack with unresolved frames", () => {
  // The stack cache replays a known stack's failures: n repeats must count n times what one sample counts.
  const anon = (pid: number, start: bigint, time: bigint) =>
    record(
      10,
      [
        ...le(4, pid, pid),
        ...le(8, start, 0x1000n, 0n),
        ...new Array(24).fill(0),
        ...le(4, 3, 0x22),
        ...text("//anon"),
        ...trailer(pid, time),
      ],
      USER,
    );
  const stacks = [
    // leaf unmapped, caller in a file
    [USER_MARK, 0x700010n, 0x400021n],
    // leaf in anonymous memory, two unmapped callers
    [USER_MARK, 0x600010n, 0x700021n, 0x700031n],
    // two reasons in one stack, leaf in a file
    [USER_MARK, 0x400010n, 0x600021n, 0x700021n],
  ];
  const convert = async (repeats: number) => {
    const records = [ATTR, mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/bin/x", 10n), anon(7, 0x600000n, 11n)];
    let t = 20n;
    for (let r = 0; r < repeats; r++) for (const chain of stacks) records.push(sample(7, t++, chain));
    // Mapped later: the earlier answers expire, the later samples resolve.
    records.push(mmap(7, 0x700000n, 0x1000n, 0n, { ino: 2 }, "/lib/y.so", t++));
    for (let r = 0; r < repeats; r++) records.push(sample(7, t++, stacks[0]!));
    const { summary } = await convertPerfData(pipeStream(...records), { readBuildId: reader() });
    return summary;
  };

  test("counts every sample's failures, per frame, per sample and per process, and expires them at the next map", async () => {
    const one = await convert(1);
    const many = await convert(9);
    const times = (o: Partial<Record<string, number>>, k: number) =>
      Object.fromEntries(Object.entries(o).map(([key, v]) => [key, v! * k]));
    expect(one.unresolved).toEqual({ "no-mapping": 1, anonymous: 1 });
    expect(one.frames.unresolved).toEqual({ "no-mapping": 4, anonymous: 2 });
    expect(many.unresolved).toEqual(times(one.unresolved, 9));
    expect(many.frames).toEqual({
      total: 9 * one.frames.total,
      resolved: 9 * one.frames.resolved,
      unresolved: times(one.frames.unresolved, 9),
    });
    expect(many.processes.map((p) => p.unresolved)).toEqual(one.processes.map((p) => times(p.unresolved, 9)));
    expect(byPath(many.files)["/lib/y.so"]!.samples).toBe(9);
    expect(byPath(one.files)["/lib/y.so"]!.samples).toBe(1);
  });
});

describe("call chains as perf reads them", () => {
  test("a marker perf does not know (guest) drops the chain, the sample keeps its IP", async () => {
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/bin/x", 10n),
      sample(7, 20n, [USER_MARK, 0x400010n, 0xfffffffffffff800n, 0x400020n]),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: reader() });
    expect(summary.badChains).toBe(1);
    expect(summary.frames.total).toBe(1);
    expect(summary.samplesWithBuildId).toBe(1);
  });

  test("kernel frames resolve in the kernel's space, user frames in the process's, each return address minus 1", async () => {
    const stream = pipeStream(
      ATTR,
      mmap(
        -1,
        0xffffffff81000000n,
        0x1000000n,
        0xffffffff81000000n,
        { v1: true },
        "[kernel.kallsyms]_text",
        0n,
        KERNEL,
      ),
      mmap(7, 0x400000n, 0x1000n, 0x3000n, { ino: 1 }, "/bin/x", 10n),
      headerBuildId("[kernel.kallsyms]", "ab".repeat(20), KERNEL),
      sample(
        7,
        20n,
        [0xffffffffffffff80n, 0xffffffff81000010n, 0xffffffff81000020n, USER_MARK, 0x400030n, 0x400040n],
        KERNEL,
      ),
    );
    const { profile, summary } = await convertPerfData(stream, { readBuildId: reader() });
    expect(byPath(summary.files)).toEqual({
      "[kernel.kallsyms]_text": { samples: 1, buildId: "ab".repeat(20), source: "table" },
      "/bin/x": { samples: 0, buildId: "11".repeat(20), source: "read" },
    });
    const { Profile } = await import("pprof-format");
    const p = Profile.decode(profile);
    const addresses = p.sample[0]!.locationId.map((id) => BigInt(p.location[Number(id) - 1]!.address));
    // Offsets in the file (ip - start + pgoff); every frame but the sample's own IP is a return address, taken back by 1.
    const user = (ip: bigint) => ip - 0x400000n + 0x3000n - 1n;
    expect(addresses).toEqual([0xffffffff81000010n, 0xffffffff81000020n - 1n, user(0x400030n), user(0x400040n)]);
  });
});

describe("build IDs come from the most exact source, and never from another file", () => {
  test("an MMAP2 in build-ID form names its file; the reader is not asked", async () => {
    const read = reader();
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { buildId: "cd".repeat(20) }, "/bin/x", 10n),
      sample(7, 20n, [USER_MARK, 0x400010n]),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: read });
    expect(byPath(summary.files)).toEqual({ "/bin/x": { samples: 1, buildId: "cd".repeat(20), source: "mmap" } });
    expect(read.calls).toEqual([]);
  });

  test("the recording's table names a path mapped as one file; a path mapped as two files is read by identity instead", async () => {
    const read = reader();
    const stream = pipeStream(
      ATTR,
      headerBuildId("/lib/one.so", "ee".repeat(20)),
      headerBuildId("/lib/two.so", "ff".repeat(20)),
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/lib/one.so", 10n),
      mmap(7, 0x500000n, 0x1000n, 0n, { ino: 2 }, "/lib/two.so", 10n),
      mmap(8, 0x500000n, 0x1000n, 0n, { ino: 3 }, "/lib/two.so", 10n),
      sample(7, 20n, [USER_MARK, 0x400010n]),
      sample(7, 20n, [USER_MARK, 0x500010n]),
      sample(8, 20n, [USER_MARK, 0x500010n]),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: read });
    const two = summary.files.filter((f) => f.path === "/lib/two.so").map((f) => [f.buildId, f.source]);
    expect(byPath(summary.files)["/lib/one.so"]).toEqual({ samples: 1, buildId: "ee".repeat(20), source: "table" });
    expect(two.sort()).toEqual([
      ["22".repeat(20), "read"],
      ["33".repeat(20), "read"],
    ]);
    expect(read.calls.sort()).toEqual(["/lib/two.so", "/lib/two.so"]);
  });

  test("an MMAP record (no device and inode) with no table entry has no build ID, and the reader is not asked", async () => {
    const read = reader();
    const stream = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { v1: true }, "/bin/x", 10n),
      sample(7, 20n, [USER_MARK, 0x400010n]),
    );
    const { summary } = await convertPerfData(stream, { readBuildId: read });
    expect(summary.files[0]!.buildId).toBeUndefined();
    expect(summary.files[0]!.reason).toContain("no device and inode");
    expect(read.calls).toEqual([]);
  });

  test("a reader's answer that is not a hex build ID is a reason, not an ID; a reader that throws is one too", async () => {
    for (const answer of [() => "not hex", () => Promise.reject(new Error("disk on fire"))]) {
      const stream = pipeStream(
        ATTR,
        mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/bin/x", 10n),
        sample(7, 20n, [USER_MARK, 0x400010n]),
      );
      const { summary } = await convertPerfData(stream, { readBuildId: answer as ReadBuildId });
      expect(summary.files[0]!.buildId).toBeUndefined();
      expect(summary.files[0]!.reason).toMatch(/not a hex build ID|disk on fire/);
    }
  });
});

describe("bounds and bad input", () => {
  test("more distinct stacks than maxStacks is an InternLimitError naming the bound", async () => {
    const stream = pipeStream(ATTR, ...[1n, 2n, 3n].map((ip) => sample(7, 10n + ip, [USER_MARK, ip])));
    await expect(convertPerfData(stream, { limits: { maxStacks: 2 } })).rejects.toThrow(
      new InternLimitError("stacks", 2),
    );
  });

  test("random damage to a valid stream converts or ends in a PerfDataError, never another error or a hang", async () => {
    const valid = pipeStream(
      ATTR,
      mmap(7, 0x400000n, 0x1000n, 0n, { ino: 1 }, "/lib/a.so", 10n),
      headerBuildId("/lib/a.so", "ee".repeat(20)),
      sample(7, 20n, [USER_MARK, 0x400010n, 0x400020n]),
      lost(25n),
      round(),
      sample(7, 30n, [0xffffffffffffff80n, 0xffffffff81000000n]),
    );
    const seed = seedFrom("CONVERT_FUZZ_SEED", "converter damage");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
        async (edits) => {
          const bytes = valid.slice();
          for (const [at, value] of edits) bytes[at] = value;
          try {
            await convertPerfData(bytes);
          } catch (error) {
            expect(error, String(error)).toBeInstanceOf(PerfDataError);
          }
        },
      ),
      { seed, numRuns: 500 },
    );
  });
});
