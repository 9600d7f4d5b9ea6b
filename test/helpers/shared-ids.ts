// Build IDs that are a pure function of (key, generation), and a check that a read one is some
// generation's ID of its key: a torn ID, another key's or a stale length fails it.
import { BUILD_ID_MAX } from "../../src/layout.js";

/** SplitMix64's finaliser: the 64 bits of `x` mixed. */
export function mix(x: bigint): bigint {
  let z = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
  z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  return z ^ (z >> 31n);
}

/** Bytes of `key`'s build ID: 12 to 20, fixed per key, so another key's length usually differs. */
export function idLength(key: bigint): number {
  return 12 + Number(mix(key) % 9n);
}

/** The build ID of `key` at generation `gen`: `gen` in its first 4 bytes, the rest mixed from both. */
export function idFor(key: bigint, gen: number): Uint8Array {
  const id = new Uint8Array(idLength(key));
  new DataView(id.buffer).setUint32(0, gen >>> 0, true);
  let word = mix(key ^ (BigInt(gen >>> 0) << 32n));
  for (let i = 4; i < id.length; i++) {
    if (i % 8 === 4) word = mix(word);
    id[i] = Number(word & 0xffn);
    word >>= 8n;
  }
  return id;
}

/**
 * Whether `bytes[at, at + length)` is a build ID of `key` (of the generation its first bytes
 * name), with zeros after it up to `padded` bytes (BUILD_ID_MAX for getBytes and getMany).
 */
export function isIdOf(key: bigint, bytes: Uint8Array, at: number, length: number, padded = length): boolean {
  if (length !== idLength(key)) return false;
  const gen = new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
  const want = idFor(key, gen);
  for (let i = 0; i < length; i++) if (bytes[at + i] !== want[i]) return false;
  for (let i = length; i < Math.min(padded, BUILD_ID_MAX); i++) if (bytes[at + i] !== 0) return false;
  return true;
}

/** A seeded xorshift32 in [0, 1): the stress test's and property test's only randomness. */
export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}
