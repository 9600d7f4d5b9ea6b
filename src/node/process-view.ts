/**
 * What a resolver holds per process: its maps as read at one moment, who the process was then
 * ({@link ProcessIdentity}), when that was last confirmed, and what each mapped file turned out to
 * be. The address -> mapping search runs over two sorted `Float64Array`s, exact for every address
 * below 2^53 (all of user space on today's 64-bit ABIs); higher addresses (`[vsyscall]`) fall back
 * to a search over the bigint mappings.
 *
 * @packageDocumentation
 */
import { findMapping, type Mapping } from "./maps.js";
import type { ProcessIdentity } from "./proc-stat.js";

const EXACT = 2 ** 53;

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
  readonly #starts: Float64Array;
  readonly #ends: Float64Array;

  /** @param mappings as {@link parseMaps} returns them, sorted by start. */
  constructor(mappings: readonly Mapping[], identity: ProcessIdentity, now: number) {
    this.mappings = mappings;
    this.identity = identity;
    this.readAt = now;
    this.verifiedAt = now;
    this.#starts = Float64Array.from(mappings, (m) => Number(m.start));
    this.#ends = Float64Array.from(mappings, (m) => Number(m.end));
  }

  /** Index of the mapping holding `address`, or -1. */
  find(address: bigint): number {
    const a = Number(address);
    if (a >= EXACT) {
      const m = findMapping(this.mappings, address);
      return m === undefined ? -1 : this.mappings.indexOf(m);
    }
    const ends = this.#ends;
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! <= a) lo = mid + 1;
      else hi = mid;
    }
    return lo < ends.length && this.#starts[lo]! <= a ? lo : -1;
  }
}
