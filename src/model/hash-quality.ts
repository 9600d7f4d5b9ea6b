/**
 * How well slab addresses hash: the core's multiplicative hash and Viro's "middle bits", and a
 * linear-probing simulation that counts each key's probes as the core does.
 * @module
 */
import { func, instance, integer } from "../check.js";

/** The kernel's `GOLDEN_RATIO_64` (include/linux/hash.h), the core's multiplier. */
export const GOLDEN_RATIO_64 = 0x61c8864680b583ebn;

const GOLDEN_HI = Number(GOLDEN_RATIO_64 >> 32n);
const GOLDEN_LO = Number(GOLDEN_RATIO_64 & 0xffffffffn);

/** High 32 bits of the 64-bit product of two u32 values. */
function mulHigh32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const mid1 = a1 * b0;
  const mid2 = a0 * b1;
  const carry = (((a0 * b0) >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** A hash from a u64 key, given as 32-bit halves, to a home slot in a table of 2^`bits` slots. */
export type HomeFunction = (hi: number, lo: number) => number;

/**
 * The core's hash: the top `bits` (1..32) of `key * GOLDEN_RATIO_64 mod 2^64`.
 * @throws TypeError or RangeError when `bits` is not an integer from 1 to 32.
 */
export function multiplicativeHome(bits: number): HomeFunction {
  integer("bits", bits, 1, 32);
  const shift = 32 - bits;
  return (hi, lo) => {
    const top = (mulHigh32(lo, GOLDEN_LO) + Math.imul(lo, GOLDEN_HI) + Math.imul(hi, GOLDEN_LO)) >>> 0;
    return top >>> shift;
  };
}

/**
 * "Middle bits": `(key >> shift) & (2^bits - 1)`, for `shift` 0..31 and `bits` 1..31.
 * @throws TypeError or RangeError when `shift` or `bits` is out of its range.
 */
export function middleBitsHome(shift: number, bits: number): HomeFunction {
  integer("shift", shift, 0, 31);
  integer("bits", bits, 1, 31);
  const mask = (1 << bits) - 1;
  return shift === 0 ? (_hi, lo) => lo & mask : (hi, lo) => ((lo >>> shift) | (hi << (32 - shift))) & mask;
}

/**
 * Inserts `keys` in order into a linear-probing table of 2^`bits` slots placed by `home`, and
 * returns each key's probe length (1: at its home), as the core counts them.
 * @throws TypeError or RangeError naming a bad argument, RangeError when there are more keys than slots.
 */
export function probeLengths(keys: BigUint64Array, bits: number, home: HomeFunction): Uint32Array {
  instance("keys", keys, BigUint64Array);
  integer("bits", bits, 1, 30);
  func("home", home);
  const slots = 2 ** bits;
  if (keys.length >= slots) {
    throw new RangeError(`${keys.length} keys do not fit a table of ${slots} slots with one empty`);
  }
  const mask = slots - 1;
  // next[p] === p for an empty slot, else a later slot of the same cluster or the empty one after it.
  // Path halving over next finds a cluster's end in near-constant time: a hash that piles every
  // key into one cluster costs O(n) here, not O(n^2).
  const next = new Int32Array(slots);
  for (let p = 0; p < slots; p++) next[p] = p;
  const lengths = new Uint32Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const start = home(Number(key >> 32n), Number(key & 0xffffffffn));
    let pos = start;
    while (next[pos] !== pos) {
      const skip = next[next[pos]!]!;
      next[pos] = skip;
      pos = skip;
    }
    next[pos] = (pos + 1) & mask;
    lengths[i] = ((pos - start) & mask) + 1;
  }
  return lengths;
}
