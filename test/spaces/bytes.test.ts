// What a held mapping costs against what the model reckons (MAPPING_BYTES, which maxBytes bounds):
// the search tree a batch builds is FLAT_NODE_BYTES a node and at most two nodes a mapping, counted
// once per layout (flatTreeBytes), and the memory a space of many mappings takes, its tree built,
// is measured under the reckoning; so is what a tree takes beside its nodes (FLAT_TREE_BYTES).
import { describe, expect, test } from "vitest";
import { AddressSpaces, LookupResults } from "../../src/spaces/index.js";
import {
  FLAT_NODE_BYTES,
  FLAT_TREE_BYTES,
  flatTreeBytes,
  type Layout,
  MAPPING_BYTES,
} from "../../src/spaces/layout.js";
import { inUse } from "./heap.js";
import { LIBC, map } from "./helpers.js";

/** A space of `n` one-page mappings of libc, a page apart, in pid 1; and its layout (white-box). */
function spaceOf(n: number): { spaces: AddressSpaces; layout: () => Layout } {
  const spaces = new AddressSpaces();
  for (let i = 0; i < n; i++) spaces.apply(map(BigInt(i + 1), 1, 0x10000n + BigInt(i) * 0x2000n, 0x1000n, LIBC));
  return { spaces, layout: () => (spaces.space(1) as unknown as { layout: Layout }).layout };
}

/** A batch of 1,024 addresses, one in each of the first mappings of {@link spaceOf}: it builds the tree. */
function batch(spaces: AddressSpaces, n: number): void {
  const addresses = BigUint64Array.from({ length: 1024 }, (_, i) => 0x10000n + BigInt(i % n) * 0x2000n + 5n);
  const out = new LookupResults(1024, { perAddress: false });
  spaces.lookupMany(1, addresses, out);
  expect(out.status.every((s) => s === 0)).toBe(true);
}

describe("a held mapping's cost is what the model reckons", () => {
  test("the flat tree: FLAT_NODE_BYTES a node in its arrays, at most two nodes a mapping", () => {
    for (const n of [1, 2, 3, 7, 8, 31, 32, 33, 127, 128, 129, 300]) {
      const { spaces, layout } = spaceOf(n);
      batch(spaces, n);
      const tree = layout().flat()!;
      const nodes = tree.ends.length;
      const bytes = Object.values(tree)
        .filter((v): v is ArrayBufferView => ArrayBuffer.isView(v))
        .reduce((sum, v) => sum + v.byteLength, 0);
      expect({ n, bytes }).toEqual({ n, bytes: nodes * FLAT_NODE_BYTES });
      expect(nodes, `${n} mappings`).toBeLessThanOrEqual(2 * n);
      expect(flatTreeBytes(n)).toBe(FLAT_TREE_BYTES + bytes);
    }
  });

  test("16,385 mappings in one space, its tree built (two nodes a mapping): measured at most what is reckoned", () => {
    const n = 16_385;
    const before = inUse();
    const { spaces } = spaceOf(n);
    batch(spaces, n);
    const measured = (inUse() - before) / n;
    const reckoned = spaces.stats().bytes / n;
    console.info(
      `a held mapping: ${measured.toFixed(0)} bytes measured, ${reckoned.toFixed(0)} reckoned (MAPPING_BYTES ${MAPPING_BYTES}, the tree's share)`,
    );
    expect(reckoned).toBe(MAPPING_BYTES + 2 * LIBC.path.length + flatTreeBytes(n) / n);
    // The path is one string shared by every mapping here: the measure is the mapping's own cost.
    expect(measured).toBeLessThanOrEqual(reckoned);
  });
});

describe("what a search tree takes beside its nodes", () => {
  test("2,000 forks of a space of 3 mappings, each changed apart and searched: each tree measured at most FLAT_TREE_BYTES and its nodes", () => {
    const forks = 2000;
    const spaces = new AddressSpaces();
    for (let i = 0; i < 3; i++) spaces.apply(map(BigInt(i + 1), 1, 0x10000n + BigInt(i) * 0x2000n, 0x1000n, LIBC));
    let time = 10n;
    for (let c = 0; c < forks; c++) {
      spaces.apply({ type: "fork", time: time++, pid: 2 + c, ppid: 1, tid: 2 + c, ptid: 1 });
      spaces.apply(map(time++, 2 + c, 0x7000_0000n + BigInt(c) * 0x2000n, 0x1000n, LIBC));
    }
    const addresses = BigUint64Array.from({ length: 64 }, (_, i) => 0x10000n + BigInt(i % 3) * 0x2000n + 5n);
    const out = new LookupResults(64, { perAddress: false });
    const bytes = spaces.stats().bytes;
    const before = inUse();
    for (let c = 0; c < forks; c++) spaces.lookupMany(2 + c, addresses, out);
    const measured = (inUse() - before) / forks;
    const reckoned = (spaces.stats().bytes - bytes) / forks;
    console.info(`a tree of 4 mappings: ${measured.toFixed(0)} bytes measured, ${reckoned} reckoned`);
    expect(reckoned).toBe(flatTreeBytes(4));
    expect(measured).toBeLessThanOrEqual(reckoned);
  });
});

describe("a batch answers from the flat tree alone", () => {
  test("with its chunks' search words zeroed after the tree was built, a batch's answers do not change", () => {
    const spaces = new AddressSpaces();
    for (let i = 0; i < 100; i++) {
      spaces.apply(map(BigInt(i + 1), 1, 0x7f00_0000_0000n + BigInt(i) * 0x3000n, 0x2000n, LIBC, BigInt(i) * 0x5000n));
    }
    const addresses = BigUint64Array.from({ length: 1024 }, (_, i) => 0x7f00_0000_0000n + BigInt(i) * 0x123n);
    const before = new LookupResults(1024, { perAddress: false });
    spaces.lookupMany(1, addresses, before);
    const layout = (spaces.space(1) as unknown as { layout: Layout }).layout;
    for (const chunk of layout.chunks)
      for (const words of [chunk.starts, chunk.ends, chunk.deltas, chunk.fileIds]) words.fill(0);
    const after = new LookupResults(1024, { perAddress: false });
    spaces.lookupMany(1, addresses, after);
    expect([...after.status].filter((s) => s === 0).length).toBeGreaterThan(500);
    expect([...after.status]).toEqual([...before.status]);
    expect([...after.slot]).toEqual([...before.slot]);
    expect([...after.fileOffset]).toEqual([...before.fileOffset]);
  });
});
