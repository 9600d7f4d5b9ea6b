// The stack cache against a plain Map of its keys: random samples over few words, so that many share
// a guess slot (IP, nr, and the third, middle and last chain entries) while differing elsewhere, and caches
// small enough to start over many times; after every step the answer is the model's.
import { describe, expect, test } from "vitest";
import { HEADER_WORDS, W } from "../../src/convert/sample-arena.js";
import { StackCache } from "../../src/convert/stack-cache.js";
import { mulberry32, seedFrom } from "../helpers/random.js";

interface Entry {
  stack: number;
  frames: number;
  failed: number;
  codes: number;
  generation: number;
  sinceHi: number;
  sinceLo: number;
}

/** Key words a sample takes in the cache: pid, misc, IP, nr and the chain (its time and period left out). */
const keyWords = (nr: number) => 5 + 2 * nr;

function run(seed: number, steps: number, maxEntries: number, maxWords: number): void {
  const next = mulberry32(seed);
  const int = (n: number) => Math.floor(next() * n);
  const cache = new StackCache(maxEntries, maxWords);
  const model = new Map<string, Entry>();
  let words = 0;
  const frames = new Int32Array(3);
  for (let step = 0; step < steps; step++) {
    const nr = [0, 1, 3, 5, 5, 5, 127][int(7)]!;
    const at = int(4);
    const ints = new Int32Array(at + HEADER_WORDS + 2 * nr).fill(-7);
    ints[at + W.TIME_LO] = int(1000);
    ints[at + W.TIME_HI] = int(2);
    ints[at + W.PID] = int(2);
    ints[at + W.MISC] = 2 + int(2) * 0x300;
    ints[at + W.IP_LO] = [0x1000, -0x1000][int(2)]!;
    ints[at + W.IP_HI] = int(2) ? 0 : 0x7fff;
    ints[at + W.NR] = nr;
    for (let i = 0; i < 2 * nr; i++) ints[at + HEADER_WORDS + i] = int(100) < 90 ? i & 1 : int(3) - 1;
    const key = Array.from(ints.subarray(at + W.PID, at + W.PERIOD_LO))
      .concat(Array.from(ints.subarray(at + W.IP_LO)))
      .join();
    const generation = int(3);
    const timeHi = ints[at + W.TIME_HI]!;
    const timeLo = ints[at + W.TIME_LO]!;
    const e = model.get(key);
    const valid =
      e !== undefined &&
      e.generation === generation &&
      !(timeHi < e.sinceHi || (timeHi === e.sinceHi && timeLo < e.sinceLo));
    const found = cache.find(ints, at, generation, timeHi, timeLo, frames);
    const where = `seed ${seed}, step ${step}, key ${key}`;
    if (valid) {
      expect(found, where).toBe(e.stack);
      expect(Array.from(frames), where).toEqual([e.frames, e.failed, e.codes]);
      continue;
    }
    expect(found, where).toBe(-1);
    if (int(10) === 0) continue;
    const entry: Entry = {
      stack: step,
      frames: int(30),
      failed: int(3),
      codes: int(256),
      generation,
      sinceHi: int(2),
      sinceLo: int(1000),
    };
    if (e === undefined) {
      if (model.size === maxEntries || words + keyWords(nr) > maxWords) {
        model.clear();
        words = 0;
      }
      words += keyWords(nr);
    }
    model.set(key, entry);
    const { stack, frames: n, failed, codes, sinceHi, sinceLo } = entry;
    cache.remember(ints, at, stack, n, failed, codes, generation, sinceHi, sinceLo);
    expect(cache.size, where).toBe(model.size);
  }
}

describe("StackCache", () => {
  const seed = seedFrom("STACK_CACHE_SEED", "the stack cache against a Map");

  test("answers as a Map of its keys, growing past its first entries", () => {
    run(seed, 60_000, 1 << 16, 1 << 22);
  });

  test("answers as a Map of its keys while it starts over when full of entries or of words", () => {
    run(seed + 1, 30_000, 40, 1 << 22);
    run(seed + 2, 30_000, 1 << 16, 600);
  });
});
