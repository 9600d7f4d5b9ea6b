// Zipf-distributed request streams for the hit-ratio rows of the matrix.
import { prng, shuffle } from "./keys.js";

/**
 * A stream of `length` key numbers in [0, keys) where rank r (1-based) is requested with
 * probability proportional to 1 / r^s. Ranks are mapped to key numbers by a random
 * permutation, so popularity is unrelated to key order (and to slab addresses).
 */
export function zipfStream(keys: number, s: number, length: number, seed: number): Uint32Array {
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let r = 0; r < keys; r++) {
    sum += 1 / (r + 1) ** s;
    cdf[r] = sum;
  }
  const next = prng(seed);
  const rankToKey = new Uint32Array(keys);
  for (let r = 0; r < keys; r++) rankToKey[r] = r;
  shuffle(rankToKey, next);
  const stream = new Uint32Array(length);
  for (let i = 0; i < length; i++) {
    // 53 random bits, scaled to the unnormalised CDF; then the first rank whose CDF reaches it.
    const u = (((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992) * sum;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    stream[i] = rankToKey[lo]!;
  }
  return stream;
}

/** The hit ratio an unbounded cache would reach on `stream`: 1 - distinct keys / requests. */
export function compulsoryHitRatio(stream: Uint32Array): number {
  return 1 - new Set(stream).size / stream.length;
}
