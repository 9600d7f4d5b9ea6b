/**
 * The ELF section table and program headers of a file, read through bounded positional reads: what
 * the reverse index needs to tell executables from debuginfo, and the server to find a section by name.
 * Every range is checked against the file size before it is read; tables are bounded by
 * {@link DEFAULT_ELF_LIMITS}.
 *
 * @packageDocumentation
 */
import { DEFAULT_ELF_LIMITS, ElfError } from "../../elf.js";
import {
  ET_DYN,
  ET_EXEC,
  PF_X,
  PN_XNUM,
  PT_LOAD,
  SHF_ALLOC,
  SHF_EXECINSTR,
  SHN_XINDEX,
  SHT_NOBITS,
  SHT_PROGBITS,
} from "../../elf-constants.js";

/** Longest section-name string table read, in bytes. */
const MAX_NAMES_BYTES = 16 * 1024 * 1024;

/** Reads `length` bytes at `offset` (the range lies within the file); returns fewer only at end of file. */
export type ReadAt = (offset: number, length: number) => Uint8Array;

/** One section header, with its name resolved. */
export interface ElfSection {
  /** Name from the section-name string table ("" when it has none). */
  name: string;
  /** `sh_type`. */
  type: number;
  /** `sh_flags` (low 32 bits). */
  flags: number;
  /** File offset of its bytes. */
  offset: number;
  /** Size in bytes (no bytes in the file when `type` is {@link SHT_NOBITS}). */
  size: number;
}

/** What {@link readElfLayout} found. */
export interface ElfLayout {
  /** `e_type`: 1 REL, 2 EXEC, 3 DYN, 4 CORE. */
  type: number;
  /** Sections in table order; empty when the file has no section table. */
  sections: ElfSection[];
  /** An `ET_EXEC` or `ET_DYN` file with code in the file: an allocated executable `SHT_PROGBITS` section, or without sections a `PT_LOAD` with `PF_X` and file bytes. */
  executable: boolean;
  /** Has DWARF: a `.debug_info` or `.zdebug_info` section with bytes in the file. */
  debuginfo: boolean;
}

interface Header {
  le: boolean;
  is64: boolean;
  type: number;
  phoff: number;
  phentsize: number;
  phnum: number;
  shoff: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

function fetch(read: ReadAt, size: number, offset: number, length: number, what: string): DataView {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new ElfError(
      "TRUNCATED",
      `${what} at 0x${offset.toString(16)} (+${length}) lies past the end of the file (${size} bytes)`,
    );
  }
  const bytes = read(offset, length);
  if (bytes.length < length) throw new ElfError("TRUNCATED", `${what}: read ${bytes.length} of ${length} bytes`);
  return new DataView(bytes.buffer, bytes.byteOffset, length);
}

function word(v: DataView, at: number, is64: boolean, le: boolean, what: string): number {
  if (!is64) return v.getUint32(at, le);
  const n = v.getBigUint64(at, le);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError("BAD_HEADER", `${what} 0x${n.toString(16)} is too large`);
  return Number(n);
}

function readHeader(read: ReadAt, size: number): Header {
  if (size < 52) throw new ElfError("NOT_ELF", `a file of ${size} bytes is too short for an ELF header`);
  const id = fetch(read, size, 0, Math.min(size, 64), "ELF header");
  if (id.getUint32(0) !== 0x7f454c46) throw new ElfError("NOT_ELF", "no ELF magic");
  const cls = id.getUint8(4);
  const data = id.getUint8(5);
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) {
    throw new ElfError("BAD_HEADER", `EI_CLASS ${cls} or EI_DATA ${data} is not 1 or 2`);
  }
  const is64 = cls === 2;
  const le = data === 1;
  if (is64 && size < 64) throw new ElfError("TRUNCATED", `a file of ${size} bytes is too short for an ELF64 header`);
  const at = is64 ? { ph: 32, sh: 40, rest: 54 } : { ph: 28, sh: 32, rest: 42 };
  return {
    le,
    is64,
    type: id.getUint16(16, le),
    phoff: word(id, at.ph, is64, le, "e_phoff"),
    shoff: word(id, at.sh, is64, le, "e_shoff"),
    phentsize: id.getUint16(at.rest, le),
    phnum: id.getUint16(at.rest + 2, le),
    shentsize: id.getUint16(at.rest + 4, le),
    shnum: id.getUint16(at.rest + 6, le),
    shstrndx: id.getUint16(at.rest + 8, le),
  };
}

function sectionHeaders(read: ReadAt, size: number, h: Header): ElfSection[] {
  if (h.shoff === 0) return [];
  const entry = h.is64 ? 64 : 40;
  if (h.shentsize < entry) throw new ElfError("BAD_HEADER", `e_shentsize ${h.shentsize} is below ${entry}`);
  let count = h.shnum;
  let names = h.shstrndx;
  if (count === 0 || names === SHN_XINDEX) {
    const zero = fetch(read, size, h.shoff, entry, "section header 0");
    if (count === 0) count = word(zero, h.is64 ? 32 : 20, h.is64, h.le, "section 0 sh_size");
    if (names === SHN_XINDEX) names = zero.getUint32(h.is64 ? 40 : 24, h.le);
  }
  if (count > DEFAULT_ELF_LIMITS.maxSections) {
    throw new ElfError("LIMIT", `${count} sections, more than ${DEFAULT_ELF_LIMITS.maxSections}`);
  }
  const table = fetch(read, size, h.shoff, count * h.shentsize, "section header table");
  const sections: ElfSection[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * h.shentsize;
    nameOffsets.push(table.getUint32(at, h.le));
    sections.push({
      name: "",
      type: table.getUint32(at + 4, h.le),
      flags: h.is64 ? Number(table.getBigUint64(at + 8, h.le) & 0xffffffffn) : table.getUint32(at + 8, h.le),
      offset: word(table, at + (h.is64 ? 24 : 16), h.is64, h.le, `section ${i} sh_offset`),
      size: word(table, at + (h.is64 ? 32 : 20), h.is64, h.le, `section ${i} sh_size`),
    });
  }
  const strtab = sections[names];
  if (names === 0 || strtab === undefined || strtab.type === SHT_NOBITS) return sections;
  if (strtab.size > MAX_NAMES_BYTES)
    throw new ElfError("LIMIT", `section names take ${strtab.size} bytes, more than ${MAX_NAMES_BYTES}`);
  const v = fetch(read, size, strtab.offset, strtab.size, "section name table");
  const text = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  const decoder = new TextDecoder("latin1");
  for (let i = 0; i < count; i++) {
    const start = nameOffsets[i]!;
    if (start >= text.length) continue;
    const end = text.indexOf(0, start);
    sections[i]!.name = decoder.decode(text.subarray(start, end < 0 ? text.length : end));
  }
  return sections;
}

function hasExecutableSegment(read: ReadAt, size: number, h: Header): boolean {
  if (h.phoff === 0 || h.phnum === 0 || h.phnum === PN_XNUM) return false;
  const entry = h.is64 ? 56 : 32;
  if (h.phentsize < entry) throw new ElfError("BAD_HEADER", `e_phentsize ${h.phentsize} is below ${entry}`);
  const table = fetch(read, size, h.phoff, h.phnum * h.phentsize, "program header table");
  for (let i = 0; i < h.phnum; i++) {
    const at = i * h.phentsize;
    const flags = table.getUint32(at + (h.is64 ? 4 : 24), h.le);
    const filesz = word(table, at + (h.is64 ? 32 : 16), h.is64, h.le, `segment ${i} p_filesz`);
    if (table.getUint32(at, h.le) === PT_LOAD && flags & PF_X && filesz > 0) return true;
  }
  return false;
}

/**
 * Reads the ELF header, section table (with names) and, when there are no sections, the program
 * headers of a file of `size` bytes through `read`.
 * @throws {@link ElfError} `NOT_ELF` for a file without the magic, `TRUNCATED`, `BAD_HEADER` or `LIMIT` for a malformed one.
 */
export function readElfLayout(read: ReadAt, size: number): ElfLayout {
  const h = readHeader(read, size);
  const sections = sectionHeaders(read, size, h);
  const linked = h.type === ET_EXEC || h.type === ET_DYN;
  const code = sections.some(
    (s) =>
      s.type === SHT_PROGBITS && (s.flags & (SHF_ALLOC | SHF_EXECINSTR)) === (SHF_ALLOC | SHF_EXECINSTR) && s.size > 0,
  );
  return {
    type: h.type,
    sections,
    executable: linked && (code || (sections.length === 0 && hasExecutableSegment(read, size, h))),
    debuginfo: sections.some(
      (s) => (s.name === ".debug_info" || s.name === ".zdebug_info") && s.type !== SHT_NOBITS && s.size > 0,
    ),
  };
}

/** The first section named `name` if it has bytes in the file, as elfutils' server picks it; `undefined` when absent, empty or {@link SHT_NOBITS}. */
export function sectionWithBytes(layout: ElfLayout, name: string): ElfSection | undefined {
  const section = layout.sections.find((s) => s.name === name);
  return section && section.type !== SHT_NOBITS && section.size > 0 ? section : undefined;
}
