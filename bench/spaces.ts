// Microbenchmark of the address-space model (src/spaces/): lookups per second on realistic spaces
// (an executable and 40 libraries, four segments each, anonymous gaps, heap, stack, vdso: about
// 200 mappings a process), random addresses, three quarters of them in file mappings; beside it,
// the search the /proc resolver uses today (ProcessView.findAll) on the same mappings; and events
// applied per second. Figures are medians of interleaved rounds, in CPU time (the machine is shared).
//   npx tsx bench/spaces.ts [--quick]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import type { Mapping as MapsLine } from "../src/node/maps.js";
import { ProcessView } from "../src/node/process-view.js";
import { AddressSpaces, LookupResults, type MapEvent } from "../src/spaces/index.js";
import { mulberry32 } from "../test/helpers/random.js";
import { median, runIfMain } from "./harness.js";

const PAGE = 0x1000n;
const BATCH = 1024;

/** One process's map events at startup: about 200 mappings from 0x5555_5555_0000 and 0x7f00_0000_0000 up. */
function processMaps(pid: number, next: () => number): MapEvent[] {
  const events: MapEvent[] = [];
  const add = (start: bigint, pages: number, path: string, inode: number, pgoff: bigint) =>
    events.push({
      type: "map",
      time: 1n,
      pid,
      tid: pid,
      start,
      length: BigInt(pages) * PAGE,
      pgoff,
      prot: 5,
      flags: 2,
      path,
      file: path.startsWith("/")
        ? { kind: "inode", major: 8, minor: 1, inode: BigInt(inode), generation: 1n }
        : { kind: "pseudo" },
    });
  const file = (at: bigint, name: string, inode: number): bigint => {
    let offset = 0n;
    let start = at;
    for (const pages of [
      1 + Math.floor(next() * 8),
      4 + Math.floor(next() * 200),
      1 + Math.floor(next() * 40),
      1 + Math.floor(next() * 4),
    ]) {
      add(start, pages, name, inode, offset);
      start += BigInt(pages) * PAGE;
      offset += BigInt(pages) * PAGE;
    }
    return start;
  };
  let end = file(0x5555_5555_0000n, "/usr/bin/app", 1);
  add(end + 16n * PAGE, 64, "[heap]", 0, 0n);
  let lib = 0x7f00_0000_0000n;
  for (let i = 0; i < 40; i++) {
    end = file(lib, `/usr/lib/lib${i}.so`, 100 + i);
    add(end, 2 + Math.floor(next() * 30), "//anon", 0, 0n);
    lib = end + 64n * PAGE;
  }
  add(0x7ffd_0000_0000n, 33, "[stack]", 0, 0n);
  add(0x7ffd_1000_0000n, 2, "[vdso]", 0, 0n);
  return events;
}

/** Addresses: three quarters in file mappings, the rest anywhere from the first mapping to the last. */
function addressesOf(events: readonly MapEvent[], next: () => number): BigUint64Array {
  const files = events.filter((e) => e.path.startsWith("/"));
  const low = events[0]!.start;
  const span = Number(events[events.length - 1]!.start - low);
  return BigUint64Array.from({ length: BATCH }, () => {
    if (next() < 0.75) {
      const m = files[Math.floor(next() * files.length)]!;
      return m.start + BigInt(Math.floor(next() * Number(m.length)));
    }
    return low + BigInt(Math.floor(next() * span));
  });
}

/** The same mappings as maps lines, for ProcessView. */
function mapsLines(events: readonly MapEvent[]): MapsLine[] {
  return events.map((e) => ({
    start: e.start,
    end: e.start + e.length,
    perms: "r-xp",
    read: true,
    write: false,
    exec: true,
    shared: false,
    offset: e.pgoff,
    major: 8,
    minor: 1,
    inode: e.file.kind === "inode" ? e.file.inode : 0n,
    path: e.path,
    deleted: false,
    kind: e.path.startsWith("/") ? "file" : e.path === "//anon" ? "anonymous" : "pseudo",
  }));
}

/** µs of CPU time `run` takes, median of `rounds` (each after a warm-up call). */
function cpuMicros(run: () => void, rounds: number): number {
  run();
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const before = process.cpuUsage();
    run();
    const used = process.cpuUsage(before);
    samples.push(used.user + used.system);
  }
  return median(samples);
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { quick: { type: "boolean", default: false } } });
  const rounds = values.quick ? 5 : 15;
  const repeats = values.quick ? 50 : 200;
  const next = mulberry32(0x5ace);
  const spaces = new AddressSpaces();
  const processes = Array.from({ length: 64 }, (_, i) => 1000 + i);
  const events = processes.map((pid) => processMaps(pid, next));
  const applied = cpuMicros(() => {
    const fresh = new AddressSpaces();
    for (const list of events) for (const e of list) fresh.apply(e);
  }, rounds);
  for (const list of events) for (const e of list) spaces.apply(e);
  const eventCount = events.reduce((n, list) => n + list.length, 0);
  const batches = events.map((list) => addressesOf(list, next));
  const views = events.map(
    (list) => new ProcessView(mapsLines(list), { startTime: 0n, layout: "" }, 0, (m) => m.kind === "file"),
  );
  const arrays = batches.map((b) => Array.from(b));
  const out = new LookupResults(BATCH);
  const found = new Int32Array(BATCH);
  const total = processes.length * repeats * BATCH;
  const perSecond = (micros: number) => (total / micros) * 1e6;
  const rows: [string, number][] = [];
  const lookupMany = cpuMicros(() => {
    for (let r = 0; r < repeats; r++)
      for (let p = 0; p < processes.length; p++) spaces.lookupMany(processes[p]!, batches[p]!, out);
  }, rounds);
  rows.push(["AddressSpaces.lookupMany, now", perSecond(lookupMany)]);
  const lookupManyTimed = cpuMicros(() => {
    for (let r = 0; r < repeats; r++)
      for (let p = 0; p < processes.length; p++) spaces.lookupMany(processes[p]!, batches[p]!, out, 2n);
  }, rounds);
  rows.push(["AddressSpaces.lookupMany, at a sample's time", perSecond(lookupManyTimed)]);
  const single = cpuMicros(() => {
    for (let p = 0; p < processes.length; p++) {
      const batch = batches[p]!;
      for (let r = 0; r < repeats / 10; r++)
        for (let i = 0; i < BATCH; i++) spaces.lookup(processes[p]!, batch[i]!, 2n);
    }
  }, rounds);
  rows.push(["AddressSpaces.lookup (one object each)", (total / 10 / single) * 1e6]);
  const view = cpuMicros(() => {
    for (let r = 0; r < repeats; r++) for (let p = 0; p < processes.length; p++) views[p]!.findAll(arrays[p]!, found);
  }, rounds);
  rows.push(["ProcessView.findAll (today's /proc resolver; index only)", perSecond(view)]);
  const meanMappings = eventCount / processes.length;
  console.log(
    `spaces: Node ${process.version}, ${processes.length} processes of ${meanMappings.toFixed(0)} mappings, ` +
      `batches of ${BATCH}, load average ${loadavg()[0]!.toFixed(1)}; CPU time, median of ${rounds} rounds`,
  );
  for (const [name, rate] of rows)
    console.log(`  ${name.padEnd(58)} ${(rate / 1e6).toFixed(1).padStart(6)} M lookups/s`);
  console.log(
    `  ${"map events applied (startup of every process)".padEnd(58)} ${(((eventCount / applied) * 1e6) / 1e3).toFixed(0).padStart(6)} k events/s`,
  );
}

runIfMain(import.meta.url, "spaces", main);
