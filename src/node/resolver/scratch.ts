/**
 * A call's working memory, made once and reused: the mappings and files the call met, found
 * through typed arrays (by the lookup's slot, by the model's file id) rather than a `Map`, so that
 * the per-address work of a warm call is a few array reads. One call at a time holds it (a call
 * that finds it taken makes its own).
 *
 * @packageDocumentation
 */
import { type LookupResults, LookupStatus, type Mapping as SpaceMapping } from "../../spaces/index.js";
import type { Mapping } from "../procfs/maps.js";
import type { Held } from "./file-checks.js";
import { RESOLVE_STATUS_CODES, type ResolveStatusCode } from "./results.js";
import type { Stamp } from "./stamps.js";

/** File ids below this are found through typed arrays; past it (a very long-lived model), through a Map. */
const DENSE_IDS = 1 << 20;
/** Where the call stamps wrap: the stamp arrays are cleared then, so an old stamp never matches. */
const LAST_CALL = 0x7fffffff;

/** From {@link Scratch.note}: an address fell outside every known mapping. */
export const UNCOVERED = 1;
/** From {@link Scratch.note}: the model held no live space for the process. */
export const LOST = 2;
/** From {@link Scratch.note}: an address fell in no mapping, for any reason (the two above, or `changed`). */
export const UNPLACED = 4;

/** A file a call met: its check, and the first of its mappings the call's addresses fell in. */
export class Met {
  /** The model's file id. */
  id = -1;
  /** The check behind the answers; `undefined` for a pseudo mapping other than the vdso. */
  held: Held | undefined = undefined;
  /** The model's mapping the file was first met in. */
  mapping: SpaceMapping | undefined = undefined;
  /** Its maps line. */
  line: Mapping | undefined = undefined;
}

/** See the module comment. */
export class Scratch {
  /** Per mapping the call met: the model's mapping. */
  readonly found: SpaceMapping[] = [];
  /** Per mapping the call met: the index in {@link met} of its file, or -1 for a mapping without one. */
  fileOf: Int32Array;
  /** Per place of the answers: its status code. */
  codes: Uint8Array;
  /** How many mappings the call met. */
  mappings = 0;
  /** What the last {@link note} returned. */
  seen = 0;
  /** Per {@link ResolveStatusCode}, how many of the call's addresses got it. */
  readonly tally = new Int32Array(RESOLVE_STATUS_CODES);
  /** The files met, `count` of them, in the order met. */
  readonly met: Met[] = [];
  /** How many of {@link met} the call uses. */
  count = 0;
  /** Held build IDs to confirm in one cache lookup: keys, the stamps they were held with, and the answers. */
  keys = new BigUint64Array(64);
  /** See {@link keys}. */
  readonly stamps: Stamp[] = [];
  /** See {@link keys}. */
  confirmed = new Uint8Array(64);
  #call = 0;
  /** Per lookup slot, the call stamp that met it. */
  #slotCall = new Int32Array(256);
  /** Per lookup slot met by the call: the index of its mapping in {@link found}. */
  #index = new Int32Array(256);
  #seen = new Int32Array(256);
  #slot = new Int32Array(256);
  readonly #far = new Map<number, number>();

  /** @param n addresses it holds at first. */
  constructor(n: number) {
    const size = Math.max(n, 64);
    this.fileOf = new Int32Array(size);
    this.codes = new Uint8Array(size);
  }

  /** Makes room for `n` addresses and forgets what the last lookup met. */
  begin(n: number): this {
    if (this.fileOf.length < n) {
      const size = Math.max(n, 2 * this.fileOf.length);
      this.fileOf = new Int32Array(size);
      this.codes = new Uint8Array(size);
    }
    this.forget();
    return this;
  }

  /** Forgets the mappings and files met (the lookups are done again). */
  forget(): void {
    if (this.#call === LAST_CALL) {
      this.#call = 0;
      this.#slotCall.fill(0);
      this.#seen.fill(0);
    }
    this.#call++;
    this.mappings = 0;
    this.count = 0;
    if (this.#far.size > 0) this.#far.clear();
  }

  /**
   * Notes the mappings the answers of a lookup into `out` fell in: each slot's mapping goes to
   * {@link found} once, and each address's index there to `place` (-1 for an address in no mapping). Returns {@link UNCOVERED}, {@link LOST} and
   * {@link UNPLACED} as bits, for the other addresses.
   */
  note(out: LookupResults, n: number, place: Int32Array): number {
    const { status, slot } = out;
    const call = this.#call;
    let calls = this.#slotCall;
    let index = this.#index;
    let seen = 0;
    for (let i = 0; i < n; i++) {
      const at = slot[i]!;
      if (at >= 0) {
        if (at < calls.length && calls[at] === call) {
          place[i] = index[at]!;
          continue;
        }
        if (at >= calls.length) {
          this.#growSlots(at + 1);
          calls = this.#slotCall;
          index = this.#index;
        }
        calls[at] = call;
        index[at] = this.mappings;
        place[i] = this.mappings;
        this.found[this.mappings++] = out.mappingOf(at);
        continue;
      }
      place[i] = -1;
      seen |= UNPLACED;
      const s = status[i]!;
      if (s === LookupStatus.NO_MAPPING || s === LookupStatus.INCOMPLETE) seen |= UNCOVERED;
      else if (s === LookupStatus.NO_PROCESS || s === LookupStatus.EXITED) seen |= LOST;
    }
    this.seen = seen;
    return seen;
  }

  /** The index in {@link met} of file `id` if the call met it, else -1. */
  find(id: number): number {
    if (id < DENSE_IDS) return id < this.#seen.length && this.#seen[id] === this.#call ? this.#slot[id]! : -1;
    return this.#far.get(id) ?? -1;
  }

  /** A new entry for file `id`, first met in `mapping` (maps line `line`); returns its index in {@link met}. */
  add(id: number, mapping: SpaceMapping, line: Mapping): number {
    const at = this.count++;
    if (id < DENSE_IDS) {
      if (id >= this.#seen.length) {
        const size = Math.min(DENSE_IDS, Math.max(id + 1, 2 * this.#seen.length));
        this.#seen = grown(this.#seen, size);
        this.#slot = grown(this.#slot, size);
      }
      this.#seen[id] = this.#call;
      this.#slot[id] = at;
    } else {
      this.#far.set(id, at);
    }
    let entry = this.met[at];
    if (entry === undefined) {
      entry = new Met();
      this.met.push(entry);
    }
    entry.id = id;
    entry.held = undefined;
    entry.mapping = mapping;
    entry.line = line;
    return at;
  }

  /** Adds a held ID to confirm as the `i`th; returns the count. */
  batch(i: number, key: bigint, stamp: Stamp): number {
    if (i === this.keys.length) {
      const keys = new BigUint64Array(2 * i);
      keys.set(this.keys);
      this.keys = keys;
      this.confirmed = new Uint8Array(2 * i);
    }
    this.keys[i] = key;
    this.stamps[i] = stamp;
    return i + 1;
  }

  #growSlots(size: number): void {
    const next = Math.max(size, 2 * this.#slotCall.length);
    this.#slotCall = grown(this.#slotCall, next);
    this.#index = grown(this.#index, next);
  }
}

function grown(from: Int32Array, size: number): Int32Array<ArrayBuffer> {
  const to = new Int32Array(size);
  to.set(from);
  return to;
}
