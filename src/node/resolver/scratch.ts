/**
 * A call's working memory, made once and reused: the files the call met, found by the model's file id through typed arrays rather than a `Map`, so
 * that the per-address work of a warm call is a few array reads. One call at a time holds it (a
 * call that finds it taken makes its own).
 *
 * @packageDocumentation
 */
import type { Mapping as SpaceMapping } from "../../spaces/index.js";
import type { Mapping } from "../procfs/maps.js";
import type { Held } from "./file-checks.js";
import type { Stamp } from "./stamps.js";

/** File ids below this are found through typed arrays; past it (a very long-lived model), through a Map. */
const DENSE_IDS = 1 << 20;

/** A file a call met: its check, and the mappings of it the call's addresses fell in, with their maps lines. */
export class Met {
  /** The model's file id. */
  id = -1;
  /** The check behind the answers; `undefined` for a pseudo mapping other than the vdso. */
  held: Held | undefined = undefined;
  /** The model's mappings of the file met so far in the call, the first one first. */
  readonly mappings: SpaceMapping[] = [];
  /** The maps line of each of {@link mappings}. */
  readonly lines: Mapping[] = [];
  /** The answers' place of each of {@link mappings}, once made. */
  readonly places: number[] = [];
  /** Addresses of the call answered with this file's failure (counted once per call). */
  failed = 0;
}

/** See the module comment. */
export class Scratch {
  /** Per address with a file, the index in {@link met} of its file. */
  slots: Int32Array;
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
  /** The answers' place of each anonymous mapping the call met. */
  readonly anonymous = new Map<SpaceMapping, number>();
  #call = 0;
  #seen = new Int32Array(256);
  #slot = new Int32Array(256);
  readonly #far = new Map<number, number>();

  /** @param n addresses it holds at first. */
  constructor(n: number) {
    this.slots = new Int32Array(Math.max(n, 64));
  }

  /** Makes room for `n` addresses and forgets the files met. */
  begin(n: number): this {
    if (this.slots.length < n) this.slots = new Int32Array(Math.max(n, 2 * this.slots.length));
    this.forgetFiles();
    return this;
  }

  /** Forgets the files met (the lookups are done again). */
  forgetFiles(): void {
    this.#call++;
    this.count = 0;
    this.#far.clear();
    this.anonymous.clear();
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
        const seen = new Int32Array(size);
        seen.set(this.#seen);
        this.#seen = seen;
        const slot = new Int32Array(size);
        slot.set(this.#slot);
        this.#slot = slot;
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
    entry.mappings.length = 0;
    entry.lines.length = 0;
    entry.places.length = 0;
    entry.mappings.push(mapping);
    entry.lines.push(line);
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
}
