// The perf map reader: perf's line format, hostile lines, overlaps settled latest-first against a naive
// model, its bounds, and the checks that keep another process's or another user's map out.
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { PerfMapError, PerfMapNames, parsePerfMap, readPerfMap } from "../../src/node/perf-map.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

// Not /tmp/perf-*: perf reads those as JIT symbol maps.
const dir = mkdtempSync(join(tmpdir(), "perf-map-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parse = (text: string | Uint8Array) =>
  parsePerfMap(typeof text === "string" ? new TextEncoder().encode(text) : text);

describe("parsePerfMap reads lines as perf's dso__load_perf_map does", () => {
  test("START SIZE name, hex without 0x; a range is [start, start + size)", () => {
    const map = parse("1000 10 JS:*fib /app.js:1\n2000 8 LazyCompile:~main\n");
    expect(map.entries).toBe(2);
    expect(map.lookup(0xfffn)).toBeUndefined();
    expect(map.lookup(0x1000n)).toBe("JS:*fib /app.js:1");
    expect(map.lookup(0x100fn)).toBe("JS:*fib /app.js:1");
    expect(map.lookup(0x1010n)).toBeUndefined();
    expect(map.lookup(0x2007n)).toBe("LazyCompile:~main");
    expect(map.lookup(0x2008n)).toBeUndefined();
  });

  test("hostile lines: strtoull's prefixes and signs, short names, NULs, a missing last newline, CRLF", () => {
    const map = parse(
      [
        "  0x3000 0X10 spaced",
        "-1 0 negative",
        "4000 10 ab",
        "nothex here name",
        "5000",
        "",
        "6000 10 cut\0after",
        "7000 10 crlf\r",
        "8000 10 last",
      ].join("\n"),
    );
    expect(map.lookup(0x3000n)).toBe("spaced");
    expect(map.lookup((1n << 64n) - 1n)).toBe("negative");
    // perf skips a line whose name is under 3 characters.
    expect(map.lookup(0x4000n)).toBeUndefined();
    // No digits: start 0, one character skipped, no digits again: size 0, and the rest from one further on is the name.
    expect(map.lookup(0n)).toBe("thex here name");
    expect(map.lookup(0x5000n)).toBeUndefined();
    expect(map.lookup(0x6000n)).toBe("cut");
    expect(map.lookup(0x7000n)).toBe("crlf\r");
    // The last line has no newline; perf drops its last character all the same.
    expect(map.lookup(0x8000n)).toBe("las");
  });

  test("huge sizes: a range past 2^64 matches nothing (perf's end wraps); overflowing digits saturate", () => {
    const map = parse("ffffffffffffff00 100 wraps\nfffffffffffffff0 f fits\n1 123456789abcdef0123 saturated\n");
    expect(map.lookup(0xffffffffffffff00n)).toBeUndefined();
    expect(map.lookup(0xfffffffffffffff0n)).toBe("fits");
    expect(map.lookup(0xfffffffffffffffen)).toBe("fits");
    expect(map.lookup(0xffffffffffffffffn)).toBeUndefined();
    // 1 + (2^64 - 1) passes 2^64: dropped as well.
    expect(map.lookup(0x10n)).toBeUndefined();
  });

  test("overlaps: the later line wins where it covers, the earlier stays visible around it; size 0 is the start alone", () => {
    const map = parse("1000 100 old\n1040 10 new\n1000 100 same-start-later\n2000 0 point\n");
    expect(map.lookup(0x1000n)).toBe("same-start-later");
    expect(map.lookup(0x1045n)).toBe("same-start-later");
    const two = parse("1000 100 old\n1040 10 new\n");
    expect(two.lookup(0x103fn)).toBe("old");
    expect(two.lookup(0x1040n)).toBe("new");
    expect(two.lookup(0x104fn)).toBe("new");
    expect(two.lookup(0x1050n)).toBe("old");
    expect(two.ranges).toBe(3);
    expect(map.lookup(0x2000n)).toBe("point");
    expect(map.lookup(0x2001n)).toBeUndefined();
  });

  test("random maps against a model that scans the lines from the last", () => {
    const next = mulberry32(seedFrom("PERF_MAP_SEED", "perf map model"));
    for (let round = 0; round < 100; round++) {
      const lines: [number, number, string][] = [];
      const n = 1 + Math.floor(next() * 30);
      for (let i = 0; i < n; i++)
        lines.push([Math.floor(next() * 200), Math.floor(next() * (next() < 0.2 ? 200 : 20)), `f${round}_${i}`]);
      const map = parse(lines.map(([s, z, name]) => `${s.toString(16)} ${z.toString(16)} ${name}\n`).join(""));
      for (let a = 0; a < 420; a++) {
        let want: string | undefined;
        for (let i = lines.length - 1; i >= 0 && want === undefined; i--) {
          const [s, z, name] = lines[i]!;
          if (a >= s && a < s + Math.max(z, 1)) want = name;
        }
        expect(map.lookup(BigInt(a)), `round ${round}, address ${a}`).toBe(want);
      }
    }
  });

  test("more lines than the bound: a typed error, nothing half-read", () => {
    const text = "1000 10 name\n".repeat(11);
    expect(() => parsePerfMap(new TextEncoder().encode(text), { maxLines: 10 })).toThrow(PerfMapError);
    expect(() => parsePerfMap(new TextEncoder().encode(text), { maxLines: 10 })).toThrow(
      "perf map: not used: more than 10 lines, the most read from a perf map",
    );
    expect(parsePerfMap(new TextEncoder().encode(text), { maxLines: 11 }).entries).toBe(11);
  });
});

describe("readPerfMap takes only the recorded process's map", () => {
  const since = Date.now() - 60_000;
  const own = process.geteuid!();
  const check = { owners: [own], since };
  let pid = 1000;
  const place = (text: string) => {
    const path = join(dir, `perf-${++pid}.map`);
    writeFileSync(path, text, { mode: 0o644 });
    return path;
  };
  const refusal = (p: number, c = check) => {
    try {
      readPerfMap(p, c, dir);
    } catch (error) {
      return error as PerfMapError;
    }
    throw new Error("not refused");
  };

  test("its own map, fresh: used; none at all: undefined", () => {
    place("1000 10 fresh\n");
    expect(readPerfMap(pid, check, dir)?.lookup(0x1000n)).toBe("fresh");
    expect(readPerfMap(999_999, check, dir)).toBeUndefined();
  });

  test("a map last modified before the recording began is an earlier process's: refused", () => {
    const path = place("1000 10 stale\n");
    utimesSync(path, new Date(since - 5_000), new Date(since - 5_000));
    const error = refusal(pid);
    expect(error.reason).toBe("stale");
    expect(error.message).toMatch(new RegExp(`^${path}: not used: last modified .* before the recording began`));
  });

  test("a symlink is not followed, a FIFO is refused without blocking", () => {
    const target = place("1000 10 target\n");
    symlinkSync(target, join(dir, `perf-${++pid}.map`));
    expect(refusal(pid).reason).toBe("symlink");
    execFileSync("mkfifo", [join(dir, `perf-${++pid}.map`)]);
    const fifo = refusal(pid);
    expect(fifo.reason).toBe("not-regular");
    expect(fifo.message).toContain("is a FIFO");
  });

  test.skipIf(own !== 0)("another user's map is refused; root's is taken", () => {
    const path = place("1000 10 theirs\n");
    chownSync(path, 65534, 65534);
    const error = refusal(pid);
    expect(error.reason).toBe("owner");
    expect(error.message).toContain("owned by uid 65534");
    expect(readPerfMap(pid, { owners: [65534], since }, dir)?.lookup(0x1000n)).toBe("theirs");
    chownSync(path, 0, 0);
    expect(readPerfMap(pid, { owners: [65534], since }, dir)?.lookup(0x1000n)).toBe("theirs");
  });

  test("a map anyone may write is refused", () => {
    const path = place("1000 10 open\n");
    chmodSync(path, 0o666);
    expect(refusal(pid).reason).toBe("writable");
  });

  test("larger than the byte bound: refused unread", () => {
    place("1000 10 name\n".repeat(100));
    const error = refusal(pid, { ...check, limits: { maxBytes: 1299 } } as typeof check);
    expect(error.reason).toBe("too-large");
    expect(error.message).toContain("1300 bytes, more than 1299");
  });

  test("PerfMapNames reads each process's map once and keeps why one was refused", () => {
    place("1000 10 one\n");
    const good = pid;
    const stale = place("1000 10 two\n");
    utimesSync(stale, new Date(since - 1), new Date(since - 1));
    const names = new PerfMapNames(check, dir);
    expect(names.frameNames(good, 0x1004n)).toBe("one");
    expect(names.frameNames(pid, 0x1004n)).toBeUndefined();
    expect(names.frameNames(pid, 0x1005n)).toBeUndefined();
    expect([...names.used.keys()]).toEqual([good]);
    expect((names.refused.get(pid) as PerfMapError).reason).toBe("stale");
  });
});
