// Correctness checks run on every implementation before and after it is timed.
import { BUILD_ID_MAX } from "../src/index.js";
import type { KeySet } from "./keys.js";
import type { Contender } from "./peers.js";
import { LABELS } from "./results.js";

/** An implementation returned a wrong result; the message names it, the key and the values. */
export class BenchCheckError extends Error {
  override name = "BenchCheckError";
}

function fail(c: Contender, what: string): never {
  throw new BenchCheckError(`${LABELS[c.id]}: ${what}`);
}

/** Checks that every key of `keys` reads back its own build ID (`present`), or misses. */
export function checkReads(c: Contender, keys: KeySet, present: boolean, when: string): void {
  const out = new Uint8Array(keys.length * BUILD_ID_MAX);
  const lengths = new Uint8Array(keys.length);
  c.read(keys, out, lengths);
  const key = (i: number) => `0x${keys.big[i]!.toString(16)}`;
  for (let i = 0; i < keys.length; i++) {
    if (!present) {
      if (lengths[i] !== 0) fail(c, `${when}: absent key ${key(i)} was found`);
      continue;
    }
    if (lengths[i] !== BUILD_ID_MAX)
      fail(c, `${when}: key ${key(i)} returned ${lengths[i]} bytes, expected ${BUILD_ID_MAX}`);
    for (let j = 0; j < BUILD_ID_MAX; j++) {
      const got = out[i * BUILD_ID_MAX + j]!;
      const want = keys.ids[i * BUILD_ID_MAX + j]!;
      if (got !== want) fail(c, `${when}: key ${key(i)} byte ${j} is ${got}, expected ${want}`);
    }
  }
}

/** Checks the live-entry count. */
export function checkSize(c: Contender, expected: number, when: string): void {
  const size = c.size();
  if (size !== expected) fail(c, `${when}: size is ${size}, expected ${expected}`);
}

/** Checks what the timed lookups return: every hit key found, no miss key found. */
export function checkTimedLookups(c: Contender, hit: KeySet, miss: KeySet): void {
  if (c.manual) return;
  const hits = c.hit(hit);
  if (hits !== hit.length) fail(c, `timed lookup found ${hits} of ${hit.length} present keys`);
  const false_ = c.miss(miss);
  if (false_ !== 0) fail(c, `timed lookup found ${false_} of ${miss.length} absent keys`);
}

/** Deletes `subset` and inserts it again, checking size and reads after each step. */
export function checkDeleteInsert(c: Contender, subset: KeySet, live: number): void {
  c.remove(subset);
  checkSize(c, live - subset.length, "after delete");
  checkReads(c, subset, false, "after delete");
  c.insert(subset);
  checkSize(c, live, "after insert");
  checkReads(c, subset, true, "after insert");
}
