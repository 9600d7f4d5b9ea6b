/**
 * DWARF's encodings, as far as the source-name reader needs them: the forms of DWARF 2 to 5 and the
 * GNU extensions, read or skipped through a cursor that checks every read against the end of its
 * bytes. @internal
 *
 * @packageDocumentation
 */

/** `DW_FORM_*` codes. */
// biome-ignore format: a table
export const F = {
  addr: 0x01, block2: 0x03, block4: 0x04, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block: 0x09,
  block1: 0x0a, data1: 0x0b, flag: 0x0c, sdata: 0x0d, strp: 0x0e, udata: 0x0f, ref_addr: 0x10, ref1: 0x11,
  ref2: 0x12, ref4: 0x13, ref8: 0x14, ref_udata: 0x15, indirect: 0x16, sec_offset: 0x17, exprloc: 0x18,
  flag_present: 0x19, strx: 0x1a, addrx: 0x1b, ref_sup4: 0x1c, strp_sup: 0x1d, data16: 0x1e, line_strp: 0x1f,
  ref_sig8: 0x20, implicit_const: 0x21, loclistx: 0x22, rnglistx: 0x23, ref_sup8: 0x24, strx1: 0x25, strx2: 0x26,
  strx3: 0x27, strx4: 0x28, addrx1: 0x29, addrx2: 0x2a, addrx3: 0x2b, addrx4: 0x2c,
  GNU_addr_index: 0x1f01, GNU_str_index: 0x1f02, GNU_ref_alt: 0x1f20, GNU_strp_alt: 0x1f21,
} as const;

/** Forms a DWARF 5 line table may use for its entries (libdw's `libdw_valid_user_form`). */
export const LINE_FORMS = new Set<number>([
  F.block,
  F.block1,
  F.block2,
  F.block4,
  F.data1,
  F.data2,
  F.data4,
  F.data8,
  F.data16,
  F.flag,
  F.line_strp,
  F.sdata,
  F.sec_offset,
  F.string,
  F.strp,
  F.strp_sup,
  F.strx,
  F.strx1,
  F.strx2,
  F.strx3,
  F.strx4,
  F.udata,
]);
/** The string forms that index `.debug_str_offsets`. */
export const STRX_FORMS = new Set<number>([F.strx, F.strx1, F.strx2, F.strx3, F.strx4, F.GNU_str_index]);
/** Forms libdw's `dwarf_formudata` reads a directory index from. */
export const DIR_INDEX_FORMS = new Set<number>([F.data1, F.data2, F.data4, F.data8, F.udata, F.sdata]);

/** A unit that cannot be read; caught per unit, as libdw fails one unit and goes on. */
export class Malformed extends Error {}

/** Sequential reads of DWARF fields from one byte range, each checked against its end. */
export class Cursor {
  /** Offset of the next read in `bytes`. */
  pos = 0;
  private readonly view: DataView;
  /** @param bytes what is read; @param le whether the file is little-endian. */
  constructor(
    readonly bytes: Uint8Array,
    readonly le: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Bytes after the position. */
  get left(): number {
    return this.bytes.length - this.pos;
  }
  /** Throws {@link Malformed} naming `what` unless `n` bytes are left. */
  need(n: number, what: string): void {
    if (n > this.left) throw new Malformed(`${what} runs past the end of its ${this.bytes.length} bytes`);
  }
  /** The next byte. */
  u8(): number {
    this.need(1, "a byte");
    return this.bytes[this.pos++]!;
  }
  /** The next u16 in the file's byte order. */
  u16(): number {
    this.need(2, "a 2-byte field");
    const v = this.view.getUint16(this.pos, this.le);
    this.pos += 2;
    return v;
  }
  /** The next 3-byte unsigned field (`DW_FORM_strx3`, `addrx3`). */
  u24(): number {
    this.need(3, "a 3-byte field");
    const [a, b, c] = [this.bytes[this.pos]!, this.bytes[this.pos + 1]!, this.bytes[this.pos + 2]!];
    this.pos += 3;
    return this.le ? a | (b << 8) | (c << 16) : (a << 16) | (b << 8) | c;
  }
  /** The next u32. */
  u32(): number {
    this.need(4, "a 4-byte field");
    const v = this.view.getUint32(this.pos, this.le);
    this.pos += 4;
    return v;
  }
  /** A u64 as a number; values past 2^53 come back inexact but past every bound they are checked against. */
  u64(): number {
    this.need(8, "an 8-byte field");
    const v = Number(this.view.getBigUint64(this.pos, this.le));
    this.pos += 8;
    return v;
  }
  /** The next unsigned field of `size` bytes (1, 2, 4 or 8): an offset, an address. */
  uint(size: number): number {
    return size === 8 ? this.u64() : size === 4 ? this.u32() : size === 2 ? this.u16() : this.u8();
  }
  /** The next ULEB128, as a number (inexact past 2^53, as {@link Cursor.u64}). */
  uleb(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (!(b & 0x80)) return value;
    }
  }
  /** The next SLEB128. */
  sleb(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.u8();
      value += (b & 0x7f) * scale;
      scale *= 128;
      if (!(b & 0x80)) return b & 0x40 ? value - scale : value;
    }
  }
  /** Moves past `n` bytes of `what`. */
  skip(n: number, what: string): void {
    this.need(n, what);
    this.pos += n;
  }
  /** The bytes up to the next NUL, which is consumed. */
  cstring(what: string): Uint8Array {
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) throw new Malformed(`${what} has no terminating NUL`);
    const s = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return s;
  }
}

/** What a unit's fields are measured in. */
export interface Shape {
  /** Unit version, 2 to 5. */
  version: number;
  /** 4 in 32-bit DWARF, 8 in 64-bit DWARF. */
  offsetSize: 4 | 8;
  /** Bytes of an address. */
  addressSize: number;
}

/** Reads a form's value: a number for constants, offsets and indexes, bytes for inline strings, `undefined` for blocks and others skipped. */
export function readForm(c: Cursor, form: number, u: Shape, implicit: number): number | Uint8Array | undefined {
  switch (form) {
    case F.addr:
      return c.uint(u.addressSize);
    case F.ref_addr:
      return c.uint(u.version === 2 ? u.addressSize : u.offsetSize);
    case F.data1:
    case F.ref1:
    case F.flag:
    case F.strx1:
    case F.addrx1:
      return c.u8();
    case F.data2:
    case F.ref2:
    case F.strx2:
    case F.addrx2:
      return c.u16();
    case F.strx3:
    case F.addrx3:
      return c.u24();
    case F.data4:
    case F.ref4:
    case F.ref_sup4:
    case F.strx4:
    case F.addrx4:
      return c.u32();
    case F.data8:
    case F.ref8:
    case F.ref_sig8:
    case F.ref_sup8:
      return c.u64();
    case F.data16:
      c.skip(16, "a 16-byte field");
      return undefined;
    case F.strp:
    case F.line_strp:
    case F.strp_sup:
    case F.sec_offset:
    case F.GNU_ref_alt:
    case F.GNU_strp_alt:
      return c.uint(u.offsetSize);
    case F.udata:
    case F.ref_udata:
    case F.strx:
    case F.addrx:
    case F.loclistx:
    case F.rnglistx:
    case F.GNU_addr_index:
    case F.GNU_str_index:
      return c.uleb();
    case F.sdata:
      return c.sleb();
    case F.string:
      return c.cstring("an inline string");
    case F.block1:
      c.skip(c.u8(), "a block");
      return undefined;
    case F.block2:
      c.skip(c.u16(), "a block");
      return undefined;
    case F.block4:
      c.skip(c.u32(), "a block");
      return undefined;
    case F.block:
    case F.exprloc:
      c.skip(c.uleb(), "a block");
      return undefined;
    case F.flag_present:
      return 1;
    case F.implicit_const:
      return implicit;
    case F.indirect: {
      const real = c.uleb();
      if (real === F.indirect || real === F.implicit_const)
        throw new Malformed(`DW_FORM_indirect names form 0x${real.toString(16)}`);
      return readForm(c, real, u, 0);
    }
    default:
      throw new Malformed(`unknown form 0x${form.toString(16)}`);
  }
}
