// The view's batch search on 32-bit halves agrees with findMapping's bigint search everywhere:
// random maps and addresses over the whole u64 range, and the edges of every mapping.
import fc from "fast-check";
import { expect, test } from "vitest";
import { findMapping, type Mapping } from "../../src/node/maps.js";
import { ProcessView } from "../../src/node/process-view.js";

/** fast-check's seed: VIEW_SEED=n replays a run. */
const SEED = Number(process.env.VIEW_SEED ?? 0x51ed);
console.info(`process-view property tests: VIEW_SEED=${SEED}`);

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
// Half the values near a 32-bit boundary, where a halves comparison would go wrong first.
const edgy = fc.oneof(
  u64,
  fc
    .tuple(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.integer({ min: -2, max: 2 }))
    .map(([hi, d]) => BigInt.asUintN(64, (hi << 32n) + BigInt(d))),
);

function mappingsOf(bounds: bigint[]): Mapping[] {
  const sorted = [...new Set(bounds)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: Mapping[] = [];
  for (let i = 0; i + 1 < sorted.length; i += 2) {
    out.push({
      start: sorted[i]!,
      end: sorted[i + 1]!,
      perms: "r-xp",
      read: true,
      write: false,
      exec: true,
      shared: false,
      offset: 0n,
      major: 0,
      minor: 0,
      inode: 0n,
      path: "",
      deleted: false,
      kind: "anonymous",
    });
  }
  return out;
}

test("findAll equals findMapping for every address, mapping edges included", () => {
  fc.assert(
    fc.property(fc.array(edgy, { maxLength: 40 }), fc.array(edgy, { maxLength: 200 }), (bounds, extra) => {
      const mappings = mappingsOf(bounds);
      const view = new ProcessView(mappings, { startTime: 0n, layout: "" }, 0, () => true);
      const addresses = [
        ...extra,
        ...mappings.flatMap((m) => [m.start, m.end - 1n, m.end, ...(m.start > 0n ? [m.start - 1n] : [])]),
      ];
      const found = new Int32Array(addresses.length);
      view.findAll(addresses, found);
      addresses.forEach((a, i) => {
        const m = findMapping(mappings, a);
        expect(found[i], `0x${a.toString(16)}`).toBe(m === undefined ? -1 : mappings.indexOf(m));
      });
    }),
    { numRuns: 500, seed: SEED },
  );
});
