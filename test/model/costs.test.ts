import { describe, expect, test } from "vitest";
import { BuildIdCache } from "../../src/index.js";
import { breakEven, designCosts, type Population, sideHashBytes, sideHashSlots } from "../../src/model/index.js";

describe("side hash bytes", () => {
  test.each([
    // entries, slots (whole 15-slot buckets >= entries × 8/7), bytes = slots / 15 × 64 + entries × 29
    [0, 0, 0],
    [1, 15, 64 + 29],
    [13, 15, 64 + 13 * 29],
    [14, 30, 2 * 64 + 14 * 29],
    [100, 120, 8 * 64 + 100 * 29],
    [16384, 18735, 1249 * 64 + 16384 * 29],
  ])("%i entries: %i slots, %i B", (entries, slots, bytes) => {
    expect(sideHashSlots(entries)).toBe(slots);
    expect(sideHashBytes(entries)).toBe(bytes);
  });

  test("matches what the real cache reserves, apart from its fixed batch buffers", async () => {
    const batchBuffers = new Set<number>();
    for (const capacity of [1, 6, 7, 12, 13, 100, 1000, 16384]) {
      const cache = await BuildIdCache.create({ capacity });
      const stats = cache.stats();
      expect(stats.slots).toBe(sideHashSlots(capacity));
      expect((stats.slots / 15) * 64 + capacity * 29).toBe(sideHashBytes(capacity));
      batchBuffers.add(stats.reservedBytes - sideHashBytes(capacity));
      cache.dispose();
    }
    expect(batchBuffers.size).toBe(1);
  });
});

describe("designCosts", () => {
  test("charges each design its own objects, always in the same order", () => {
    const p: Population = { files: 1000, inodes: 5000, elfInodes: 100, executableMappings: 300 };
    const costs = designCosts(p);
    expect(costs.map((c) => c.design)).toEqual(["pointer-per-file", "pointer-per-inode", "stolen-bit"]);
    expect(costs.map((c) => c.bytes)).toEqual([
      1000 * 8 + 300 * 24, // a pointer per file, a struct build_id per executable mapping
      5000 * 16 + 100 * 24, // pointer + lock (padded) per inode, a struct build_id per ELF inode
      8 * 64 + 100 * 29, // nothing per inode; 100 entries in 8 buckets of 15 slots
    ]);
    for (const c of costs) expect(c.label.length).toBeGreaterThan(0);
    expect(costs[0]!.perObject).toBe("8 B/file + 24 B/exec mapping");
  });

  test("an empty machine costs nothing in any design", () => {
    const empty = { files: 0, inodes: 0, elfInodes: 0, executableMappings: 0 };
    expect(designCosts(empty).map((c) => c.bytes)).toEqual([0, 0, 0]);
  });

  test.each<[Partial<Population>, string]>([
    [{ files: -1 }, "population.files must be an integer >= 0, got -1"],
    [{ inodes: 1.5 }, "population.inodes must be an integer >= 0, got 1.5"],
    [{ executableMappings: Number.NaN }, "population.executableMappings must be an integer >= 0, got NaN"],
    [{ elfInodes: 11 }, "population.elfInodes (11) exceeds population.inodes (10)"],
  ])("rejects %o", (change, message) => {
    const p = { files: 10, inodes: 10, elfInodes: 1, executableMappings: 1, ...change };
    expect(() => designCosts(p)).toThrow(new RangeError(message));
    expect(() => breakEven(p)).toThrow(new RangeError(message));
  });
});

describe("breakEven", () => {
  test("a desktop: per-file loses above 127 files; the side hash matches it at 306 ELF inodes, per-inode never", () => {
    const p = { files: 1000, inodes: 5000, elfInodes: 100, executableMappings: 100 };
    // Side hash for 100 entries: 8 buckets × 64 + 100 × 29 = 3412 B; per file: 8 f + 100 × 24 = 8 f + 2400.
    // 8 f >= 1012 from f = 127.
    // Per file costs 8000 + 2400 = 10400 B. 305 entries: 24 buckets (1536 B) + 8845 = 10381 < 10400;
    // 306 entries: 1536 + 8874 = 10410 >= 10400.
    // Per inode costs 80000 + 24 n; the side hash costs at most 29 n + 5 n, and 10 n <= 50000 < 80000: never.
    expect(breakEven(p)).toEqual({ files: 127, elfInodesVsPerFile: 306, elfInodesVsPerInode: null });
  });

  test("a tiny inode cache: per-inode never wins, one entry already costs more than per-file", () => {
    const p = { files: 10, inodes: 100, elfInodes: 10, executableMappings: 0 };
    // Per inode: 1600 + 24 n. Side hash at n = 100: 8 buckets × 64 + 2900 = 3412 < 4000.
    expect(breakEven(p).elfInodesVsPerInode).toBe(null);
    // Per file: 80 B; side hash for one entry is one bucket and one entry, 64 + 29 = 93 B.
    expect(breakEven(p).elfInodesVsPerFile).toBe(1);
    // Side hash for 10 entries: 64 + 290 = 354 B <= 8 × 45.
    expect(breakEven(p).files).toBe(45);
  });

  test("the break-even population really is where the costs cross", () => {
    const p = { files: 20000, inodes: 60000, elfInodes: 800, executableMappings: 100 };
    const { files, elfInodesVsPerFile } = breakEven(p);
    expect(files).toBeGreaterThan(0);
    const cost = (q: Population, i: number) => designCosts(q)[i]!.bytes;
    expect(cost({ ...p, files }, 0)).toBeGreaterThanOrEqual(cost(p, 2));
    expect(cost({ ...p, files: files - 1 }, 0)).toBeLessThan(cost(p, 2));
    const n = elfInodesVsPerFile!;
    expect(cost({ ...p, elfInodes: n }, 2)).toBeGreaterThanOrEqual(cost(p, 0));
    expect(cost({ ...p, elfInodes: n - 1 }, 2)).toBeLessThan(cost(p, 0));
  });
});
