/**
 * A protobuf writer for the few shapes a pprof profile needs: varint fields, packed varints and
 * nested messages, into one growing buffer. pprof-format's encoder allocates an array per integer it
 * measures or writes; a profile of 15,000 stacks spent a third of its conversion there. Nested messages
 * are written in place.
 *
 * @module
 */

const TWO_32 = 4294967296;
const encoder = new TextEncoder();
/** Room for a field's length: a varint up to 2^35. */
const LENGTH_ROOM = 5;

/** A growing buffer of protobuf bytes. */
export class ProtoWriter {
  /** The bytes; the first {@link length} are written (1 MB to start: growth met in optimized code deoptimizes it). */
  bytes = new Uint8Array(1 << 20);
  /** Bytes written. */
  length = 0;

  #room(n: number): Uint8Array {
    if (this.length + n > this.bytes.length) {
      const next = new Uint8Array(Math.max(2 * this.bytes.length, this.length + n));
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
    }
    return this.bytes;
  }

  /** Writes a varint of the u64 `(hi, lo)` (both u32). */
  varint64(hi: number, lo: number): void {
    const b = this.#room(10);
    let p = this.length;
    while (hi !== 0 || lo > 0x7f) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    this.length = p;
  }

  /** Writes a varint of `n`: an integer, negative ones as 64-bit two's complement. */
  varint(n: number): void {
    if (n >= 0 && n < 0x80) {
      this.#room(1)[this.length++] = n;
      return;
    }
    if (n >= 0) {
      this.varint64(Math.floor(n / TWO_32) >>> 0, n >>> 0);
      return;
    }
    const lo = n >>> 0;
    const hi = (Math.floor(n / TWO_32) | 0) >>> 0;
    this.varint64(hi, lo);
  }

  /** A varint field; omitted when 0, as proto3 omits defaults. */
  uint(field: number, n: number): void {
    if (n === 0) return;
    this.varint(field << 3);
    this.varint(n);
  }

  /** A varint field of the u64 `(hi, lo)`; omitted when 0. */
  uint64(field: number, hi: number, lo: number): void {
    if (hi === 0 && lo === 0) return;
    this.varint(field << 3);
    this.varint64(hi, lo);
  }

  /** A varint field of a bigint in [0, 2^64); omitted when 0. */
  big(field: number, n: bigint): void {
    this.uint64(field, Number(n >> 32n), Number(n & 0xffffffffn));
  }

  /** A length-delimited field holding `bytes`. */
  bytesField(field: number, bytes: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(bytes.length);
    this.#room(bytes.length).set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A string field (written even when empty: a string table's first entry is ""). */
  string(field: number, s: string): void {
    this.bytesField(field, encoder.encode(s));
  }

  /** Starts a length-delimited field; returns where its body starts, for {@link end}. */
  begin(field: number): number {
    this.varint((field << 3) | 2);
    this.#room(LENGTH_ROOM);
    this.length += LENGTH_ROOM;
    return this.length;
  }

  /** Ends the field begun at `start`: its length, then its body moved up to meet it. */
  end(start: number): void {
    const b = this.bytes;
    let p = start - LENGTH_ROOM;
    let n = this.length - start;
    while (n > 0x7f) {
      b[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[p++] = n;
    if (p < start) {
      b.copyWithin(p, start, this.length);
      this.length -= start - p;
    }
  }

  /** A packed repeated varint field of `values[from, to)`, each plus `add`; omitted when empty. */
  packed(field: number, values: ArrayLike<number>, from: number, to: number, add = 0): void {
    if (to <= from) return;
    const start = this.begin(field);
    for (let i = from; i < to; i++) this.varint(values[i]! + add);
    this.end(start);
  }

  /** The bytes written, as a copy. */
  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}
