// Ties the two sides of the wasm boundary: every layout fact in src/layout.ts against the value
// the core exports under the same name, and the index-sizing rule against init()'s.
import { describe, expect, test } from "vitest";
import * as layout from "../src/layout.js";
import { instantiateCore, requireLittleEndian } from "../src/wasm.js";

/** The core's exported constants: the upper-case globals (lower-case ones are table state). */
function coreConstants(core: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(core)) {
    if (/^[A-Z][A-Z0-9_]*$/.test(name) && value instanceof WebAssembly.Global) out[name] = Number(value.value);
  }
  return out;
}

describe("layout", () => {
  test("every constant of src/layout.ts is the core's, and the core exports no other", async () => {
    const core = await instantiateCore();
    const ts = Object.fromEntries(Object.entries(layout).filter(([, value]) => typeof value === "number"));
    expect(Object.keys(ts)).toEqual(
      expect.arrayContaining(["BUILD_ID_MAX", "ENTRY_SIZE", "REF_OFFSET", "MAX_CAPACITY", "BATCH", "OK", "ERR_LENGTH"]),
    );
    expect(ts).toEqual(coreConstants(core));
  });

  test("the entry fields tile the record without gaps", () => {
    expect(layout.KEY_OFFSET).toBe(0);
    expect(layout.ID_OFFSET - layout.KEY_OFFSET).toBe(BigUint64Array.BYTES_PER_ELEMENT);
    expect(layout.LEN_OFFSET - layout.ID_OFFSET).toBe(layout.BUILD_ID_MAX);
    expect(layout.SPARE_OFFSET - layout.REF_OFFSET).toBe(1);
    expect(layout.ENTRY_SIZE).toBeGreaterThan(layout.SPARE_OFFSET);
  });

  test("slotCount(capacity) is the core's slot count after init(capacity), at every power-of-two edge", async () => {
    const capacities = new Set([1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 100, 1000, 16_384, 49_152, 49_153, 65_536]);
    for (let bits = 3; bits <= 20; bits++) {
      const edge = Math.floor(((1 << bits) * 3) / 4);
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
