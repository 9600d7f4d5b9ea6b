// Ties the two sides of the wasm boundary: every layout fact in src/layout.ts against the value
// the core exports under the same name, and the index-sizing rule against init()'s.
import { readFile } from "node:fs/promises";
import { describe, expect, test } from "vitest";
import * as layout from "../src/layout.js";
import { compileCore, instantiateCore, instantiateModule, requireLittleEndian } from "../src/wasm.js";

/** The core's exported constants: the upper-case globals (lower-case ones are table state). */
function coreConstants(core: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(core)) {
    if (/^[A-Z][A-Z0-9_]*$/.test(name) && value instanceof WebAssembly.Global) out[name] = Number(value.value);
  }
  return out;
}

describe("layout", () => {
  test("every constant of src/layout.ts is the shared core's, the plain core's all but ERR_WRITER, no other", async () => {
    // SHARED_MAX_PAGES is the memory's limit, not an export: the next test ties it to asconfig.json.
    const { SHARED_MAX_PAGES: _, ...ts } = Object.fromEntries(
      Object.entries(layout).filter(([, value]) => typeof value === "number"),
    ) as Record<string, number>;
    expect(Object.keys(ts)).toEqual(
      expect.arrayContaining(["BUILD_ID_MAX", "ENTRY_SIZE", "REF_BIT", "MAX_CAPACITY", "BATCH", "OK", "ERR_LENGTH"]),
    );
    const memory = new WebAssembly.Memory({ initial: 1, maximum: layout.SHARED_MAX_PAGES, shared: true });
    expect(ts).toEqual(coreConstants(await instantiateModule(await compileCore(undefined, true), memory)));
    const { ERR_WRITER, ...plain } = ts;
    expect(plain).toEqual(coreConstants(await instantiateCore()));
  });

  test("SHARED_MAX_PAGES is the shared targets' maximumMemory in asconfig.json", async () => {
    const { targets } = JSON.parse(await readFile(new URL("../asconfig.json", import.meta.url), "utf8"));
    expect([targets["shared-debug"].maximumMemory, targets["shared-release"].maximumMemory]).toEqual([
      layout.SHARED_MAX_PAGES,
      layout.SHARED_MAX_PAGES,
    ]);
  });

  test("the entry fields tile the record without gaps", () => {
    expect(layout.KEY_OFFSET).toBe(0);
    expect(layout.ID_OFFSET - layout.KEY_OFFSET).toBe(BigUint64Array.BYTES_PER_ELEMENT);
    expect(layout.META_OFFSET - layout.ID_OFFSET).toBe(layout.BUILD_ID_MAX);
    expect(layout.ENTRY_SIZE).toBe(layout.META_OFFSET + 1);
  });

  test("the meta byte holds every length and the reference bit apart", () => {
    expect(layout.LEN_MASK & (layout.LEN_MASK + 1)).toBe(0);
    expect(layout.LEN_MASK).toBeGreaterThanOrEqual(layout.BUILD_ID_MAX);
    expect(layout.LEN_MASK & layout.REF_BIT).toBe(0);
    expect(layout.REF_BIT & (layout.REF_BIT - 1)).toBe(0);
    expect(layout.REF_BIT).toBeLessThan(256);
  });

  test("a bucket's tags and overflow count fill one v128, its entry numbers the rest of one cache line", () => {
    expect(layout.OVER_OFFSET).toBe(layout.BUCKET_SLOTS);
    expect(layout.SLOT_ENTRY_OFFSET).toBe(16);
    expect(layout.SLOT_ENTRY_OFFSET + layout.BUCKET_SLOTS * 3).toBeLessThanOrEqual(layout.BUCKET_SIZE);
    expect(layout.BUCKET_SIZE).toBe(64);
    expect(layout.MAX_CAPACITY).toBe(2 ** 24 - 1);
  });

  test("slotCount(capacity) is the core's slot count after init(capacity), at every bucket edge", async () => {
    const capacities = new Set([1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 100, 1000, 16_384, 49_152, 49_153, 65_536]);
    for (let buckets = 1; buckets <= 1 << 16; buckets *= 3) {
      const edge = Math.floor((buckets * layout.BUCKET_SLOTS * 7) / 8);
      for (const c of [edge - 1, edge, edge + 1]) capacities.add(c);
    }
    for (const capacity of capacities) {
      const core = await instantiateCore();
      expect(core.init(capacity)).toBe(layout.OK);
      expect([capacity, layout.slotCount(capacity)]).toEqual([capacity, core.slotCount()]);
    }
  });
});

describe("byte order", () => {
  test("the loader refuses a big-endian host by name and accepts a little-endian one", () => {
    expect(() => requireLittleEndian(false)).toThrow(/needs a little-endian host/);
    expect(() => requireLittleEndian(true)).not.toThrow();
    expect(() => requireLittleEndian()).not.toThrow();
  });
});
