/**
 * What a resolver holds per process: its maps as read at one moment, who the process was then
 * ({@link ProcessIdentity}), when that was last confirmed, and what each mapped file turned out to
 * be. The address -> mapping search is a binary search over the mappings' starts and ends in two
 * `BigUint64Array`s: no object touched per step, and no conversion of the address to a number
 * (which costs more than the search).
 *
 * @packageDocumentation
 */
import type { Mapping } from "./maps.js";
import type { ProcessIdentity } from "./proc-stat.js";

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
  readonly #starts: BigUint64Array;
  readonly #ends: BigUint64Array;

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
    this.#starts = BigUint64Array.from(mappings, (m) => m.start);
    this.#ends = BigUint64Array.from(mappings, (m) => m.end);
  }

  /** Index of the mapping holding `address` (a u64), or -1: `findMapping` over typed arrays. */
  find(address: bigint): number {
    const ends = this.#ends;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! <= address) lo = mid + 1;
      else hi = mid;
    }
    return lo < ends.length && this.#starts[lo]! <= address ? lo : -1;
  }
}
