// The /proc feed: random sequences of maps reads fed to the model agree, after every read, with a
// plain search of the last read (findMapping); a mapping unchanged between reads keeps the time it
// was first seen; an exec and a PID reuse end the old space and begin a new one.
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { mapsEvents, ProcFeed } from "../../../src/node/procfs/feed.js";
import { findMapping, type Mapping, parseMaps } from "../../../src/node/procfs/maps.js";
import type { ProcessIdentity } from "../../../src/node/procfs/proc-stat.js";
import { AddressSpaces } from "../../../src/spaces/index.js";

/** fast-check's seed: FEED_SEED=n replays a run. */
const SEED = Number(process.env.FEED_SEED ?? Date.now() % 2 ** 31);
console.info(`feed property tests: FEED_SEED=${SEED}`);

const PAGE = 0x1000n;
const BASE = 0x7f00_0000_0000n;
const identity: ProcessIdentity = { startTime: 100n, layout: "1 2 3", comm: "app", ppid: 1, exited: false };

/** A maps line over pages [from, to) of BASE, of file `file` (0: anonymous, -1: [heap]). */
function line(from: number, to: number, file: number, perms: string, offset: number): string {
  const range = `${(BASE + BigInt(from) * PAGE).toString(16)}-${(BASE + BigInt(to) * PAGE).toString(16)}`;
  const off = (BigInt(offset) * PAGE).toString(16).padStart(8, "0");
  if (file === 0) return `${range} ${perms} 00000000 00:00 0`;
  if (file === -1) return `${range} ${perms} 00000000 00:00 0 [heap]`;
  return `${range} ${perms} ${off} fe:01 ${1000 + file} /usr/lib/lib${file}.so`;
}

/** A read: up to 12 mappings over 64 pages, in order, none overlapping. */
const read = fc
  .array(
    fc.record({
      gap: fc.integer({ min: 0, max: 3 }),
      pages: fc.integer({ min: 1, max: 4 }),
      file: fc.integer({ min: -1, max: 4 }),
      perms: fc.constantFrom("r--p", "r-xp", "rw-p", "rw-s"),
      offset: fc.integer({ min: 0, max: 8 }),
    }),
    { maxLength: 12 },
  )
  .map((specs) => {
    let at = 0;
    const lines: string[] = [];
    for (const s of specs) {
      at += s.gap;
      lines.push(line(at, at + s.pages, s.file, s.perms, s.offset));
      at += s.pages;
    }
    return parseMaps(lines.join("\n"));
  });

/** Every probed address as the model answers it and as the last read says, compared once per read (an expect per address took 362 s at load 27). */
function agrees(spaces: AddressSpaces, feed: ProcFeed, pid: number, lines: readonly Mapping[]): void {
  const got: unknown[] = [];
  const want: unknown[] = [];
  for (let page = 0n; page < 70n; page++) {
    for (const address of [BASE + page * PAGE, BASE + page * PAGE + PAGE - 1n]) {
      const w = findMapping(lines, address);
      const g = spaces.lookup(pid, address);
      if (w === undefined) {
        got.push({ address, ok: g.ok, reason: g.ok ? undefined : g.reason });
        want.push({ address, ok: false, reason: "no-mapping" });
        continue;
      }
      const mapping = g.mapping;
      got.push({
        address,
        kind: g.ok ? "file" : g.reason,
        range: [mapping?.start, mapping?.end],
        line: mapping && feed.lineOf(mapping),
        fileOffset: g.ok ? g.fileOffset : undefined,
        file: g.ok ? g.mapping.file : undefined,
      });
      want.push({
        address,
        kind: w.kind === "file" ? "file" : "anonymous",
        range: [w.start, w.end],
        line: w,
        fileOffset: g.ok ? address - w.start + w.offset : undefined,
        file: g.ok ? expect.objectContaining({ kind: "inode", major: 0xfe, minor: 1, inode: w.inode }) : undefined,
      });
    }
  }
  expect(got).toEqual(want);
}

describe("reads fed in order", () => {
  test("after every read the model answers as the last read does; unchanged mappings keep their first time", () => {
    fc.assert(
      fc.property(fc.array(read, { minLength: 1, maxLength: 8 }), (reads) => {
        const spaces = new AddressSpaces();
        const feed = new ProcFeed(spaces);
        const firstSeen = new Map<string, bigint>();
        reads.forEach((lines, i) => {
          const time = BigInt(10 * (i + 1));
          expect(feed.read(42, time, identity, lines)).toBe(i === 0 ? "new" : "same");
          agrees(spaces, feed, 42, lines);
          const kept = new Map<string, bigint>();
          for (const m of spaces.space(42)!.mappings()) {
            const l = feed.lineOf(m)!;
            const key = `${l.start} ${l.end} ${l.perms} ${l.offset} ${l.inode} ${l.path}`;
            kept.set(key, firstSeen.get(key) ?? time);
            expect(m.since).toBe(firstSeen.get(key) ?? time);
          }
          firstSeen.clear();
          for (const [k, v] of kept) firstSeen.set(k, v);
        });
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  test("mapsEvents: nothing for an unchanged read; an unmap and a map for a changed line", () => {
    const before = parseMaps(`${line(0, 2, 1, "r-xp", 0)}\n${line(4, 5, 0, "rw-p", 0)}`);
    expect(mapsEvents(7, 5n, before, before)).toEqual([]);
    const after = parseMaps(`${line(0, 2, 2, "r-xp", 0)}\n${line(4, 5, 0, "rw-p", 0)}\n${line(6, 7, 3, "r--p", 1)}`);
    expect(mapsEvents(7, 5n, before, after).map((e) => [e.type, e.start, e.length])).toEqual([
      ["unmap", BASE, 2n * PAGE],
      ["map", BASE, 2n * PAGE],
      ["map", BASE + 6n * PAGE, PAGE],
    ]);
  });
});

describe("another program or process behind the PID", () => {
  const lines = parseMaps(line(0, 2, 1, "r-xp", 0));

  test("an exec (same start time, new layout) ends the space by exec; the new one starts from the read", () => {
    const spaces = new AddressSpaces();
    const feed = new ProcFeed(spaces);
    feed.read(42, 10n, identity, lines);
    const other = parseMaps(line(8, 9, 2, "r-xp", 0));
    expect(feed.read(42, 20n, { ...identity, layout: "4 5 6", comm: "next" }, other)).toBe("exec");
    const space = spaces.space(42)!;
    expect([space.bornAt, space.comm, space.previous?.end, space.previous?.endedAt]).toEqual([
      20n,
      "next",
      "exec",
      20n,
    ]);
    expect(spaces.lookup(42, BASE).ok).toBe(false);
    expect(spaces.lookup(42, BASE, 15n)).toMatchObject({ ok: true, fileOffset: 0n });
  });

  test("a PID reuse (new start time) ends the old space by exit; the new one copies nothing from it", () => {
    const spaces = new AddressSpaces();
    const feed = new ProcFeed(spaces);
    feed.read(42, 10n, identity, lines);
    expect(feed.read(42, 20n, { ...identity, startTime: 200n }, [])).toBe("reused");
    expect(spaces.space(42)!.previous?.end).toBe("exit");
    expect(spaces.lookup(42, BASE)).toMatchObject({ ok: false, reason: "no-mapping" });
    feed.exited(42, 30n);
    expect(spaces.lookup(42, BASE)).toMatchObject({ ok: false, reason: "exited" });
    expect(feed.identity(42)).toBeUndefined();
  });
});
