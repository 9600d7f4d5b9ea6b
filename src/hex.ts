import { describe } from "./describe.js";

const HEX_PAIRS: string[] = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** Lowercase hex of `bytes[start, start + length)`. */
export function toHex(bytes: Uint8Array, start = 0, length = bytes.length - start): string {
  let s = "";
  for (let i = start; i < start + length; i++) s += HEX_PAIRS[bytes[i]!];
  return s;
}

function nibble(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87; // a-f
  return -1;
}

/**
 * Writes the bytes of hex string `s` to `out` at `offset` and returns how many; throws a
 * TypeError naming `s` on odd length or a non-hex character.
 */
export function parseHexInto(s: string, out: Uint8Array, offset: number, what: string): number {
  if (s.length % 2 !== 0) throw new TypeError(`${what} ${describe(s)} has odd length ${s.length}`);
  for (let i = 0; i < s.length; i += 2) {
    const hi = nibble(s.charCodeAt(i));
    const lo = nibble(s.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) {
      const at = hi < 0 ? i : i + 1;
      throw new TypeError(`${what} ${describe(s)} has a non-hex character ${describe(s[at])} at ${at}`);
    }
    out[offset + i / 2] = (hi << 4) | lo;
  }
  return s.length / 2;
}
