// The page's benchmark (web/bench.ts) run in Node for its first rounds, watched through spies: what the timed
// turns of "lookup, hit" find in the cache. Timings are never asserted.
import { afterEach, expect, it, vi } from "vitest";
import { BuildIdCache } from "../../src/index.js";
import { MIN_ROUNDS, runBenchmark } from "../../web/bench.js";

/** Stops the benchmark before its last fixed round: until then the clock is read only around timed slices. */
class Enough extends Error {}

afterEach(() => {
  vi.restoreAllMocks();
});

it("times hits on keys each looked up once since they went in, never the first lookup that marks an entry", async () => {
  // Per key the cache holds: whether it was looked up since it went in.
  const lookedUp = new Map<bigint, boolean>();
  const proto = BuildIdCache.prototype;
  const { set, clear, getBytesAt, getMany } = proto;
  vi.spyOn(proto, "set").mockImplementation(function (this: BuildIdCache, key, id) {
    const evicted = set.call(this, key, id);
    lookedUp.set(key, false);
    return evicted;
  });
  vi.spyOn(proto, "clear").mockImplementation(function (this: BuildIdCache) {
    lookedUp.clear();
    clear.call(this);
  });
  vi.spyOn(proto, "getMany").mockImplementation(function (this: BuildIdCache, keys, out, lengths) {
    for (const key of keys) if (lookedUp.has(key)) lookedUp.set(key, true);
    return getMany.call(this, keys, out, lengths);
  });
  // In the first rounds the clock is read only around timed slices: an odd read starts one, the next ends it.
  let rounds = false;
  let reads = 0;
  const timed = { lookups: 0, first: 0 };
  vi.spyOn(proto, "getBytesAt").mockImplementation(function (this: BuildIdCache, keys, index, out, offset) {
    const key = keys[index]!;
    if (rounds && reads % 2 === 1) {
      timed.lookups++;
      if (lookedUp.get(key) === false) timed.first++;
    }
    if (lookedUp.has(key)) lookedUp.set(key, true);
    return getBytesAt.call(this, keys, index, out, offset);
  });
  const now = performance.now.bind(performance);
  vi.spyOn(performance, "now").mockImplementation(() => {
    if (rounds) reads++;
    return now();
  });
  const run = runBenchmark(1024, ({ step }) => {
    rounds = step.startsWith("round ");
    if (step === `round ${MIN_ROUNDS} of ${MIN_ROUNDS}`) throw new Enough();
  });
  await expect(run).rejects.toBeInstanceOf(Enough);
  expect(reads % 2, "clock reads pair up into slices").toBe(0);
  expect(timed.lookups, "timed single-key lookups (hit and miss rows)").toBeGreaterThan(0);
  expect(timed.first, "timed lookups that were their key's first since it went in").toBe(0);
}, 300_000);
