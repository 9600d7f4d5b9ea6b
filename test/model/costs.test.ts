import { describe, expect, test } from "vitest";
import { BuildIdCache } from "../../src/index.js";
import { breakEven, designCosts, type Population, sideHashBytes, sideHashSlots } from "../../src/model/index.js";

describe("side hash bytes", () => {
  test.each([
    // entries, slots (power of two >= entries / 0.75, at least 8), bytes = slots × 4 + entries × 32
    [0, 8, 0],
    [1, 8, 8 * 4 + 32],
    [6, 8, 8 * 4 + 6 * 32],
    [7, 16, 16 * 4 + 7 * 32],
    [12, 16, 16 * 4 + 12 * 32],
    [13, 32, 32 * 4 + 13 * 32],
    [100, 256, 256 * 4 + 100 * 32],
    [16384, 32768, 32768 * 4 + 16384 * 32],
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
      expect(stats.slots * 4 + capacity * 32).toBe(sideHashBytes(capacity));
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
      256 * 4 + 100 * 32, // nothing per inode; 100 entries in 256 slots
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
  test("a desktop: per-file loses above 228 files; the side hash matches it at 261 ELF inodes, per-inode never", () => {
    const p = { files: 1000, inodes: 5000, elfInodes: 100, executableMappings: 100 };
    // Side hash for 100 entries: 256 × 4 + 100 × 32 = 4224 B; per file: 8 f + 100 × 24 = 8 f + 2400.
    // 8 f >= 1824 from f = 228.
    // Per file costs 8000 + 2400 = 10400 B. From 193 to 384 entries the index has 512 slots (2048 B):
    // 32 n + 2048 >= 10400 from n = 261.
    // Per inode costs 80000 + 24 n; up to 5000 entries the side hash is at most 5000 × 32 + 8192 × 4 = 192768 B
    // but 32 n + 4 slots - 24 n = 8 n + 4 slots <= 40000 + 32768 < 80000: never.
    expect(breakEven(p)).toEqual({ files: 228, elfInodesVsPerFile: 261, elfInodesVsPerInode: null });
  });

  test("a tiny inode cache: the power-of-two index step decides where per-inode wins", () => {
    const p = { files: 10, inodes: 100, elfInodes: 10, executableMappings: 0 };
    // Per inode: 1600 + 24 n. Side hash: 32 n + 4 slots. Difference 8 n + 4 slots - 1600:
    // n = 96 (128 slots): 768 + 512 < 1600; n = 97 (256 slots): 776 + 1024 >= 1600.
    expect(breakEven(p).elfInodesVsPerInode).toBe(97);
    // Per file: 80 B; side hash for one entry is 64 B, for two 8 × 4 + 64 = 96 B.
    expect(breakEven(p).elfInodesVsPerFile).toBe(2);
    // Side hash for 10 entries: 16 × 4 + 320 = 384 B = 8 × 48.
    expect(breakEven(p).files).toBe(48);
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
