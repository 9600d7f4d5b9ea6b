// Scenarios of records that read fine but lie (test/convert/lies.test.ts): fast-check arbitraries and the
// pipe-mode stream each describes, with a build ID per path so that a file given another's can be told.
import fc from "fast-check";
import type { ReadBuildId } from "../../src/convert/index.js";
import {
  attrRecord,
  CPU_CLOCK_G,
  commRecord,
  headerBuildIdRecord,
  le,
  mmap2Record,
  pipeStream,
  record,
  sampleIdTrailer,
  taskRecord,
} from "../helpers/perf-writer.js";

/** Paths by index; a file's build ID is its index + 1 repeated, so an ID names the path it may belong to. */
export const PATHS = [
  "/bin/a",
  "/lib/b.so",
  "/lib/c.so",
  "[vdso]",
  "//anon",
  "[kernel.kallsyms]_text",
  "/memfd:x (deleted)",
];
export const idOf = (path: number, size = 20) => new Array<number>(size).fill(path + 1);
export const hexOf = (bytes: number[]) => bytes.map((b) => b.toString(16).padStart(2, "0")).join("");

const IDENTIFIER = 1n << 16n;
/** IP|TID|TIME|CALLCHAIN|PERIOD, and a second attribute without CALLCHAIN; with IDENTIFIER when there are two. */
const WITH_CHAIN = 0x127n;
const WITHOUT_CHAIN = 0x107n;

const MARKERS = [
  0xffffffffffffff80n, // PERF_CONTEXT_KERNEL
  0xfffffffffffffe00n, // PERF_CONTEXT_USER
  0xfffffffffffff800n, // PERF_CONTEXT_GUEST
  0xfffffffffffff780n, // PERF_CONTEXT_GUEST_KERNEL
  0xfffffffffffff600n, // PERF_CONTEXT_GUEST_USER
  0xfffffffffffff001n, // PERF_CONTEXT_MAX
  0xfffffffffffff000n, // just past the markers
];

const pid = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(7, 8) },
  { weight: 2, arbitrary: fc.constantFrom(1, 2) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 2 ** 31 - 1, -(2 ** 31), 4194304) },
);
const address = fc.oneof(
  { weight: 4, arbitrary: fc.bigInt({ min: 0x400000n, max: 0x412000n }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      0n,
      1n,
      2n ** 63n - 1n,
      2n ** 63n,
      2n ** 64n - 4096n,
      2n ** 64n - 1n,
      0xffffffff81000000n,
    ),
  },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
);
const length = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0x1000n, 0x10000n) },
  { weight: 2, arbitrary: fc.constantFrom(0n, 1n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 64n - 0x400000n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
);
const pgoff = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0n, 0x1000n) },
  { weight: 1, arbitrary: fc.constantFrom(2n ** 63n, 2n ** 63n + 0x1000n, 2n ** 64n - 1n, 2n ** 64n - 0x1000n) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
);
const chainEntry = fc.oneof({ weight: 3, arbitrary: address }, { weight: 2, arbitrary: fc.constantFrom(...MARKERS) });

const map = fc.record({
  kind: fc.constant("mmap2" as const),
  pid,
  start: fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(0x400000n, 0x401000n, 0x408000n) },
    { weight: 1, arbitrary: address },
  ),
  len: length,
  pgoff,
  path: fc.nat(PATHS.length - 1),
  kernel: fc.boolean(),
  // an inode, no identity, or a build ID of this many bytes (past 20: a lie the reader refuses)
  identity: fc.oneof(fc.constant("inode"), fc.constant("none"), fc.integer({ min: 0, max: 24 })),
});

const op = fc.oneof(
  { weight: 4, arbitrary: map },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("comm" as const), pid, tid: pid, exec: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom("fork" as const, "exit" as const), pid, ppid: pid, tid: pid }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("sample" as const),
      pid,
      tid: pid,
      second: fc.boolean(),
      chain: fc.oneof(
        { weight: 5, arbitrary: fc.array(chainEntry, { maxLength: 8 }) },
        { weight: 1, arbitrary: fc.array(chainEntry, { minLength: 120, maxLength: 600 }) },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "round" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "lost" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("table" as const),
      pid,
      path: fc.nat(PATHS.length - 1),
      kernel: fc.boolean(),
      size: fc.option(fc.integer({ min: 0, max: 24 })),
    }),
  },
);

/** Each record's time: mostly forward, sometimes back (within or across rounds), sometimes 0 or 2^64 - 1. */
const timing = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 20 }) },
  { weight: 2, arbitrary: fc.integer({ min: -60, max: 0 }) },
  { weight: 1, arbitrary: fc.constantFrom("zero", "max") },
);

export const scenario = fc.record({
  twoAttrs: fc.boolean(),
  // a few maps first, so that most samples have a space to resolve in
  ops: fc
    .tuple(
      fc.array(fc.tuple(map, timing), { maxLength: 4 }),
      fc.array(fc.tuple(op, timing), { minLength: 1, maxLength: 40 }),
    )
    .map(([maps, rest]) => [...maps, ...rest]),
});
export type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** A scenario of one process in user space with times that move forward: its samples resolve, so their build IDs are checked. */
export const coherent = scenario.map(
  (s): Scenario => ({
    ...s,
    ops: s.ops.map(([o, t]) => {
      const op =
        "pid" in o
          ? { ...o, pid: 7, ...("tid" in o ? { tid: 7 } : {}), ...("kernel" in o ? { kernel: false } : {}) }
          : o;
      const chain = op.kind === "sample" ? { chain: op.chain.filter((c) => c < 2n ** 63n) } : {};
      return [{ ...op, ...chain }, typeof t === "number" ? Math.abs(t) : 1] as Scenario["ops"][number];
    }),
  }),
);

/** The pipe-mode stream a scenario describes. */
export function streamOf({ twoAttrs, ops }: Scenario): Uint8Array {
  const attrs = twoAttrs
    ? [attrRecord(WITH_CHAIN | IDENTIFIER, [1n]), attrRecord(WITHOUT_CHAIN | IDENTIFIER, [2n])]
    : [attrRecord(WITH_CHAIN)];
  const id = twoAttrs ? 1n : undefined;
  const records: number[][] = [];
  let clock = 1000n;
  for (const [o, step] of ops) {
    let time: bigint;
    if (step === "zero") time = 0n;
    else if (step === "max") time = 2n ** 64n - 1n;
    else {
      clock += BigInt(step);
      time = clock < 0n ? 0n : clock;
    }
    switch (o.kind) {
      case "mmap2": {
        const misc = o.kernel ? 1 : 2;
        const m = { ...o, tid: o.pid, path: PATHS[o.path]!, misc };
        const identity =
          o.identity === "inode"
            ? { maj: 8, min: 1, ino: BigInt(o.path + 1) }
            : o.identity === "none"
              ? { maj: 0, min: 0, ino: 0n }
              : { buildId: idOf(o.path, Math.min(o.identity, 20)), size: o.identity };
        records.push(mmap2Record(m, identity, sampleIdTrailer(o.pid, o.pid, time, id)));
        break;
      }
      case "comm":
        records.push(commRecord(o.pid, o.tid, `c${o.pid}`, o.exec, sampleIdTrailer(o.pid, o.tid, time, id)));
        break;
      case "fork":
      case "exit":
        records.push(
          taskRecord(
            o.kind === "fork" ? 7 : 4,
            { pid: o.pid, ppid: o.ppid, tid: o.tid, ptid: o.ppid, time },
            sampleIdTrailer(o.pid, o.tid, time, id),
          ),
        );
        break;
      case "sample": {
        const second = twoAttrs && o.second;
        const ip = o.chain.find((c) => c < 0xfffffffffffff000n) ?? 0x400010n;
        const body = [
          ...(twoAttrs ? le(8, second ? 2n : 1n) : []),
          ...le(8, ip),
          ...le(4, o.pid, o.tid),
          ...le(8, time, 1000n),
          ...(second ? [] : le(8, BigInt(o.chain.length), ...o.chain)),
        ];
        records.push(record(9, body, ip >= 2n ** 63n ? 1 : 2));
        break;
      }
      case "round":
        records.push(record(68, []));
        break;
      case "lost":
        records.push(record(2, [...le(8, 1n, 3n), ...sampleIdTrailer(-1, -1, time, id)]));
        break;
      case "table": {
        const size = o.size ?? undefined;
        records.push(
          headerBuildIdRecord(o.pid, idOf(o.path, Math.min(size ?? 20, 20)), PATHS[o.path]!, o.kernel ? 1 : 2, size),
        );
        break;
      }
    }
  }
  return pipeStream(...attrs, ...records);
}

/** A reader that answers a file by inode with its path's ID: inode i is PATHS[i - 1]'s. */
export const readBuildId: ReadBuildId = (file) => {
  if (file.kind !== "inode" || file.inode < 1n || file.inode > BigInt(PATHS.length)) return { reason: "unknown" };
  return hexOf(idOf(Number(file.inode) - 1));
};

/** `n` processes, each named, mapping /bin/a and sampled there once, a round every 1,000. */
export function manyProcesses(n: number): Uint8Array {
  const attr = attrRecord(CPU_CLOCK_G);
  const one = (pid: number, time: bigint) => [
    ...commRecord(pid, pid, "p", false, sampleIdTrailer(pid, pid, time)),
    ...mmap2Record(
      { pid, tid: pid, start: 0x400000n, len: 0x1000n, pgoff: 0n, path: "/bin/a", misc: 2 },
      { maj: 8, min: 1, ino: 1n },
      sampleIdTrailer(pid, pid, time),
    ),
    ...record(9, [...le(8, 0x400010n), ...le(4, pid, pid), ...le(8, time + 1n, 1000n, 0n)], 2),
  ];
  const template = new Uint8Array(one(1, 1n));
  const round = record(68, []);
  const head = pipeStream(attr);
  const rounds = Math.floor(n / 1000);
  const out = new Uint8Array(head.length + n * template.length + rounds * round.length);
  out.set(head);
  const view = new DataView(out.buffer);
  let at = head.length;
  const commSize = template[6]!;
  const mmapSize = template[commSize + 6]!;
  for (let pid = 1; pid <= n; pid++) {
    out.set(template, at);
    const time = BigInt(pid) * 10n;
    // pid and tid at the front of each record, the trailer's at its end, the sample's after its IP
    for (const [start, size] of [
      [at, commSize],
      [at + commSize, mmapSize],
    ] as const) {
      view.setInt32(start + 8, pid, true);
      view.setInt32(start + 12, pid, true);
      view.setInt32(start + size - 16, pid, true);
      view.setInt32(start + size - 12, pid, true);
      view.setBigUint64(start + size - 8, time, true);
    }
    const sample = at + commSize + mmapSize;
    view.setInt32(sample + 16, pid, true);
    view.setInt32(sample + 20, pid, true);
    view.setBigUint64(sample + 24, time + 1n, true);
    at += template.length;
    if (pid % 1000 === 0) {
      out.set(round, at);
      at += round.length;
    }
  }
  return out;
}
