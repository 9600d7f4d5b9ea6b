// What findAt answers beside getBytesAt on the same keys and the same table: run in Node and, bundled, in Chromium.
import { BUILD_ID_MAX, type BuildIdCache } from "../../src/index.js";

/** What {@link compareFindAt} saw; every pair in it should hold two equal things. */
export interface FindAtReport {
  /** Per lookup: getBytesAt's length, findAt's, and whether foundId held the 20 bytes getBytesAt wrote. */
  answers: [number, number, boolean][];
  /** The keys each cache kept through the same evictions: the same when findAt marks entries as getBytesAt does. */
  kept: [string, string];
  stats: [string, string];
  /** Per bad call: what getBytesAt threw and what findAt threw, as "Name: message". */
  refusals: [string, string][];
  /** Whether a refused call moved a counter. */
  countersMoved: boolean;
  /** What findAt threw once the cache was disposed, and foundId's length then. */
  disposed: [string, number];
}

const thrown = (call: () => unknown): string => {
  try {
    call();
    return "nothing thrown";
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
};

/** Two caches filled alike from `seed`: one read by getBytesAt, the other by findAt, key by key. */
export async function compareFindAt(Cache: typeof BuildIdCache, seed: number): Promise<FindAtReport> {
  let state = seed >>> 0;
  const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0);
  const capacity = 64;
  // Kernel-like addresses, 0 and 2^64-1, half of them held, with IDs of every length.
  const keys = BigUint64Array.from({ length: 2 * capacity }, (_, i) =>
    i === 0 ? 0n : i === 1 ? (1n << 64n) - 1n : 0xffff_8881_0000_0000n + BigInt(next()) * 1128n,
  );
  const [byCopy, byView] = await Promise.all([1, 2].map(() => Cache.create({ capacity })));
  for (let i = 0; i < keys.length; i += 2) {
    const id = Uint8Array.from({ length: 1 + (next() % BUILD_ID_MAX) }, () => next() & 0xff);
    byCopy!.set(keys[i]!, id);
    byView!.set(keys[i]!, id);
  }
  const out = new Uint8Array(BUILD_ID_MAX);
  const answers: [number, number, boolean][] = [];
  // Each key in a random order, some twice; a third of the held ones marked, as CLOCK then sees them.
  for (let n = 0; n < 3 * keys.length; n++) {
    const i = next() % keys.length;
    out.fill(0xee);
    const copied = byCopy!.getBytesAt(keys, i, out);
    const found = byView!.findAt(keys, i);
    answers.push([copied, found, found === 0 || byView!.foundId.every((byte, k) => byte === out[k])]);
  }
  const fresh = BigUint64Array.from({ length: capacity / 2 }, (_, i) => 0xffff_8882_0000_0000n + BigInt(i) * 1128n);
  const kept = [byCopy!, byView!].map((cache) => {
    cache.setMany(fresh, new Uint8Array(fresh.length * BUILD_ID_MAX).fill(1), 4);
    return [...cache.keys()].map(String).join(",");
  }) as [string, string];
  const stats = [byCopy!, byView!].map((cache) => JSON.stringify(cache.stats())) as [string, string];
  const before = JSON.stringify(byView!.stats());
  const bad: [unknown, unknown][] = [
    [[keys[0]], 0],
    [BigInt64Array.from([-1n]), 0],
    [keys, keys.length],
    [keys, -1],
    [keys, 1.5],
    [keys, 2 ** 32],
    [keys, "0"],
    [keys.subarray(keys.length), 0],
  ];
  const refusals = bad.map(([array, index]): [string, string] => [
    thrown(() => byCopy!.getBytesAt(array as BigUint64Array, index as number, out)),
    thrown(() => byView!.findAt(array as BigUint64Array, index as number)),
  ]);
  const countersMoved = JSON.stringify(byView!.stats()) !== before;
  byView!.dispose();
  byCopy!.dispose();
  return {
    answers,
    kept,
    stats,
    refusals,
    countersMoved,
    disposed: [thrown(() => byView!.findAt(keys, 0)), byView!.foundId.length],
  };
}
