/**
 * What a lookup answers: one {@link Lookup} object for a single address, or status codes and typed
 * arrays filled in place ({@link LookupResults}) for a batch.
 *
 * @module
 */
import { integer } from "../check.js";
import type { Layout, Mapping } from "./layout.js";
import type { AddressSpace } from "./space.js";

/** A batch lookup's answer per address, in {@link LookupResults.status}. */
export const LookupStatus = {
  /** A file mapping holds the address; `fileId`, `fileOffset` and `mapping` are set. */
  OK: 0,
  /** No space of the pid is held for that time: never seen, seen only later, or evicted. */
  NO_PROCESS: 1,
  /** The process had exited by that time. */
  EXITED: 2,
  /** No mapping holds the address. */
  NO_MAPPING: 3,
  /** Anonymous memory holds it (`mapping` is set): no file, so no build ID. */
  ANONYMOUS: 4,
  /** The mapping that holds it now was mapped (or first read) after that time, so what held it then is not known. */
  CHANGED: 5,
  /** No held mapping covers it, but the space lost mappings to a limit: it may have been mapped. */
  INCOMPLETE: 6,
} as const;

/** One of the {@link LookupStatus} codes. */
export type LookupStatusCode = (typeof LookupStatus)[keyof typeof LookupStatus];

/** Why a lookup found no file, by name: the {@link LookupStatus} codes other than `OK`. */
export type LookupFailure = "no-process" | "exited" | "no-mapping" | "anonymous" | "changed" | "incomplete";

const FAILURES: readonly (LookupFailure | undefined)[] = [
  undefined,
  "no-process",
  "exited",
  "no-mapping",
  "anonymous",
  "changed",
  "incomplete",
];

/** The name of a failure status; `undefined` for `OK`. */
export function lookupFailure(status: LookupStatusCode): LookupFailure | undefined {
  return FAILURES[status];
}

/** A single lookup that found a file. */
export interface LookupHit {
  /** A file holds the address. */
  readonly ok: true;
  /** The space it was resolved against. */
  readonly space: AddressSpace;
  /** The mapping holding the address. */
  readonly mapping: Mapping;
  /** `mapping.fileId`: key caches by it. */
  readonly fileId: number;
  /** `address - mapping.start + mapping.pgoff`, mod 2^64. */
  readonly fileOffset: bigint;
}

/** A single lookup that found no file, and why. */
export interface LookupMiss {
  /** No file: see {@link reason}. */
  readonly ok: false;
  /** Why not. */
  readonly reason: LookupFailure;
  /** The space it was looked up in, when there was one. */
  readonly space?: AddressSpace | undefined;
  /** For `anonymous`, the mapping holding the address. */
  readonly mapping?: Mapping | undefined;
}

/** The answer for one address. */
export type Lookup = LookupHit | LookupMiss;

/**
 * Where a batch lookup writes its answers, index for index with the addresses. Made once and
 * reused: a lookup writes into it and allocates nothing.
 */
export class LookupResults {
  /** Per address, a {@link LookupStatus} code. */
  readonly status: Uint8Array;
  /** Per address, the file's id; -1 unless `OK`. Not written when made with `perAddress: false`. */
  readonly fileId: Int32Array;
  /** Per address, the file offset (`address - start + pgoff`, mod 2^64); 0 when no mapping holds it. */
  readonly fileOffset: BigUint64Array;
  /**
   * Per address, the mapping holding it (for `OK` and `ANONYMOUS`), else `undefined`; not written
   * when made with `perAddress: false` (see {@link mappingOf}).
   */
  readonly mapping: (Mapping | undefined)[];
  /**
   * Per address, where its mapping sits in the space's layout searched (for `OK` and `ANONYMOUS`),
   * else -1: within one batch, equal slots are the same mapping, so a caller can key per-mapping
   * work by slot instead of by object. Meaningless across batches.
   */
  readonly slot: Int32Array;
  /** {@link fileOffset} as u32 words, which the lookup writes. @internal */
  readonly offsetWords: Uint32Array;
  /** Whether {@link mapping} and {@link fileId} are written per address. */
  readonly perAddress: boolean;
  /** The layout the last batch searched. @internal */
  layout: Layout | undefined = undefined;

  /**
   * @param capacity how many addresses one batch may hold, 1 to 2^24.
   * @param options `perAddress: false` leaves {@link mapping} and {@link fileId} unwritten, for a
   *   caller that keys its work by {@link slot} and asks {@link mappingOf} once per slot.
   */
  constructor(capacity: number, options: { perAddress?: boolean } = {}) {
    integer("capacity", capacity, 1, 2 ** 24);
    this.perAddress = options.perAddress ?? true;
    this.status = new Uint8Array(capacity);
    this.fileId = new Int32Array(capacity);
    this.fileOffset = new BigUint64Array(capacity);
    this.offsetWords = new Uint32Array(this.fileOffset.buffer);
    this.mapping = new Array<Mapping | undefined>(capacity).fill(undefined);
    this.slot = new Int32Array(capacity);
  }

  /** How many addresses a batch may hold. */
  get capacity(): number {
    return this.status.length;
  }

  /** The mapping at `slot` (a {@link LookupResults.slot} of the last batch) in the layout that batch searched. */
  mappingOf(slot: number): Mapping {
    const m = this.layout?.mappingAt(slot);
    if (m === undefined) throw new RangeError(`slot ${slot} is not a slot of the last batch`);
    return m;
  }
}
