/**
 * What a resolver holds per process: its maps as read at one moment, who the process was then
 * ({@link ProcessIdentity}), when that was last confirmed, and what each mapped file turned out to
 * be. The address -> mapping search runs on 32-bit halves: a batch's addresses are written once into
 * a `BigUint64Array` and read back as `Uint32Array` words, and the mappings' starts and ends are kept
 * the same way, so each step of the binary search compares two small integers instead of two
 * bigints (and no address is turned into a number, which costs more than the search).
 *
 * @packageDocumentation
 */
import type { Mapping } from "./maps.js";
import type { ProcessIdentity } from "./proc-stat.js";

// Which word of a u64 holds its high half, in this host's byte order.
const HI = new Uint32Array(BigUint64Array.of(1n).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;
// The batch's addresses as u64 words, shared by every view (a search never awaits).
let scratch = new BigUint64Array(1024);
let words = new Uint32Array(scratch.buffer);

/** A process's maps snapshot; the resolver decides when it is too old. */
export class ProcessView<File> {
  /** The maps, in address order. */
  readonly mappings: readonly Mapping[];
  /** Who the process was when its maps were read. */
  readonly identity: ProcessIdentity;
  /** When the maps were read (the resolver's clock). */
  readonly readAt: number;
  /** When the identity was last confirmed. */
  verifiedAt: number;
  /** The process was gone at the last check: its maps are final, and serve samples taken before. */
  gone = false;
  /** What each mapping's file turned out to be, by mapping index, with when it was checked. */
  readonly files = new Map<number, File>();
  /** Per mapping: 1 when an address in it resolves through a file (see the constructor's `resolvable`). */
  readonly resolvable: Uint8Array;
  /** Per mapping: `offset - start`, so an address's file offset is one addition. */
  readonly delta: bigint[];
  readonly #starts: Uint32Array;
  readonly #ends: Uint32Array;

  /**
   * @param mappings as {@link parseMaps} returns them, sorted by start.
   * @param resolvable whether an address in a mapping resolves through a file.
   */
  constructor(
    mappings: readonly Mapping[],
    identity: ProcessIdentity,
    now: number,
    resolvable: (m: Mapping) => boolean,
  ) {
    this.mappings = mappings;
    this.identity = identity;
    this.readAt = now;
    this.verifiedAt = now;
    this.resolvable = Uint8Array.from(mappings, (m) => (resolvable(m) ? 1 : 0));
    this.delta = mappings.map((m) => m.offset - m.start);
    this.#starts = new Uint32Array(BigUint64Array.from(mappings, (m) => m.start).buffer);
    this.#ends = new Uint32Array(BigUint64Array.from(mappings, (m) => m.end).buffer);
  }

  /**
   * For each address (u64), the index of the mapping holding it, or -1, into `found`: `findMapping`
   * on 32-bit halves. Returns whether any address fell outside every {@link resolvable} mapping.
   */
  findAll(addresses: readonly bigint[], found: Int32Array): boolean {
    if (scratch.length < addresses.length) {
      scratch = new BigUint64Array(Math.max(addresses.length, 2 * scratch.length));
      words = new Uint32Array(scratch.buffer);
    }
    for (let i = 0; i < addresses.length; i++) scratch[i] = addresses[i]!;
    const starts = this.#starts;
    const ends = this.#ends;
    const resolvable = this.resolvable;
    const n = ends.length >>> 1;
    let outside = false;
    for (let i = 0; i < addresses.length; i++) {
      const hi = words[2 * i + HI]!;
      const lo = words[2 * i + LO]!;
      let left = 0;
      let right = n;
      while (left < right) {
        const mid = (left + right) >>> 1;
        const endHi = ends[2 * mid + HI]!;
        if (endHi < hi || (endHi === hi && ends[2 * mid + LO]! <= lo)) left = mid + 1;
        else right = mid;
      }
      const startHi = starts[2 * left + HI]!;
      const at = left < n && (startHi < hi || (startHi === hi && starts[2 * left + LO]! <= lo)) ? left : -1;
      found[i] = at;
      if (at < 0 || resolvable[at] === 0) outside = true;
    }
    return outside;
  }
}
