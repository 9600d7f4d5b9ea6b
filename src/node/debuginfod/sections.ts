/**
 * The ELF section table and program headers of a file, read through bounded positional reads: what
 * the reverse index needs to tell executables from debuginfo, and the server to find a section by name.
 * Every range is checked against the file size before it is read; tables are bounded by
 * {@link DEFAULT_ELF_LIMITS}.
 *
 * @packageDocumentation
 */
import {
  DEFAULT_ELF_LIMITS,
  E_TYPE,
  ELF32,
  ELF64,
  type ElfClassLayout,
  ElfError,
  P_TYPE,
  SH_FLAGS,
  SH_NAME,
  SH_TYPE,
} from "../../elf.js";
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
  /** File offset of its bytes (past 2^53: rounded, and past any file). */
  offset: number;
  /** Size in bytes (no bytes in the file when `type` is {@link SHT_NOBITS}; past 2^53: rounded, and past any file). */
  size: number;
}

/** What {@link readElfLayout} found. */
export interface ElfLayout {
  /** `e_type`: 1 REL, 2 EXEC, 3 DYN, 4 CORE. */
  type: number;
  /** The offsets of the file's ELF class. */
  classLayout: ElfClassLayout;
  /** The file is little-endian (`EI_DATA` 1). */
  littleEndian: boolean;
  /** Sections in table order; empty when the file has no section table. */
  sections: ElfSection[];
  /** An `ET_EXEC` or `ET_DYN` file with code in the file: an allocated executable `SHT_PROGBITS` section, or without sections a `PT_LOAD` with `PF_X` and file bytes. */
  executable: boolean;
  /** Has DWARF: a `.debug_info` or `.zdebug_info` section with bytes in the file. */
  debuginfo: boolean;
}

interface Header {
  le: boolean;
  layout: ElfClassLayout;
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

function word(v: DataView, at: number, layout: ElfClassLayout, le: boolean, what: string): number {
  if (layout.word === 4) return v.getUint32(at, le);
  const n = v.getBigUint64(at, le);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError("BAD_HEADER", `${what} 0x${n.toString(16)} is too large`);
  return Number(n);
}

// A section's offset or size, as libelf takes it: any value, the ones past 2^53 rounded (still past any file, so never read).
function span(v: DataView, at: number, layout: ElfClassLayout, le: boolean): number {
  return layout.word === 4 ? v.getUint32(at, le) : Number(v.getBigUint64(at, le));
}

function readHeader(read: ReadAt, size: number): Header {
  if (size < ELF32.ehdrSize) throw new ElfError("NOT_ELF", `a file of ${size} bytes is too short for an ELF header`);
  const id = fetch(read, size, 0, Math.min(size, ELF64.ehdrSize), "ELF header");
  if (id.getUint32(0) !== 0x7f454c46) throw new ElfError("NOT_ELF", "no ELF magic");
  const cls = id.getUint8(4);
  const data = id.getUint8(5);
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) {
    throw new ElfError("BAD_HEADER", `EI_CLASS ${cls} or EI_DATA ${data} is not 1 or 2`);
  }
  const L = cls === 2 ? ELF64 : ELF32;
  const le = data === 1;
  if (size < L.ehdrSize)
    throw new ElfError("TRUNCATED", `a file of ${size} bytes is too short for an ELF${L.elfClass} header`);
  return {
    le,
    layout: L,
    type: id.getUint16(E_TYPE, le),
    phoff: word(id, L.ePhoff, L, le, "e_phoff"),
    shoff: word(id, L.eShoff, L, le, "e_shoff"),
    phentsize: id.getUint16(L.ePhentsize, le),
    phnum: id.getUint16(L.ePhnum, le),
    shentsize: id.getUint16(L.eShentsize, le),
    shnum: id.getUint16(L.eShnum, le),
    shstrndx: id.getUint16(L.eShstrndx, le),
  };
}

function sectionHeaders(read: ReadAt, size: number, h: Header): ElfSection[] {
  if (h.shoff === 0) return [];
  const L = h.layout;
  const entry = L.shdrSize;
  if (h.shentsize < entry) throw new ElfError("BAD_HEADER", `e_shentsize ${h.shentsize} is below ${entry}`);
  let count = h.shnum;
  let names = h.shstrndx;
  if (count === 0 || names === SHN_XINDEX) {
    const zero = fetch(read, size, h.shoff, entry, "section header 0");
    if (count === 0) count = word(zero, L.shSize, L, h.le, "section 0 sh_size");
    if (names === SHN_XINDEX) names = zero.getUint32(L.shLink, h.le);
  }
  if (count > DEFAULT_ELF_LIMITS.maxSections) {
    throw new ElfError("LIMIT", `${count} sections, more than ${DEFAULT_ELF_LIMITS.maxSections}`);
  }
  const table = fetch(read, size, h.shoff, count * h.shentsize, "section header table");
  const sections: ElfSection[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * h.shentsize;
    nameOffsets.push(table.getUint32(at + SH_NAME, h.le));
    sections.push({
      name: "",
      type: table.getUint32(at + SH_TYPE, h.le),
      // The low half of a 64-bit sh_flags: every flag tested here is below 2^32.
      flags: table.getUint32(at + SH_FLAGS + (h.le || L.word === 4 ? 0 : 4), h.le),
      offset: span(table, at + L.shOffset, L, h.le),
      size: span(table, at + L.shSize, L, h.le),
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
  const L = h.layout;
  const entry = L.phdrSize;
  if (h.phentsize < entry) throw new ElfError("BAD_HEADER", `e_phentsize ${h.phentsize} is below ${entry}`);
  const table = fetch(read, size, h.phoff, h.phnum * h.phentsize, "program header table");
  for (let i = 0; i < h.phnum; i++) {
    const at = i * h.phentsize;
    const flags = table.getUint32(at + L.pFlags, h.le);
    const filesz = word(table, at + L.pFilesz, L, h.le, `segment ${i} p_filesz`);
    if (table.getUint32(at + P_TYPE, h.le) === PT_LOAD && flags & PF_X && filesz > 0) return true;
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
    classLayout: h.layout,
    littleEndian: h.le,
    sections,
    executable: linked && (code || (sections.length === 0 && hasExecutableSegment(read, size, h))),
    debuginfo: sections.some(
      (s) => (s.name === ".debug_info" || s.name === ".zdebug_info") && s.type !== SHT_NOBITS && s.size > 0,
    ),
  };
}

/**
 * The first section named `name` if it has bytes in a file of `fileSize` bytes, as elfutils'
 * server picks it; `undefined` when absent, empty, {@link SHT_NOBITS}, or when its range
 * `[sh_offset, sh_offset + sh_size)` does not lie wholly inside the file (libelf has no data for it).
 */
export function sectionWithBytes(layout: ElfLayout, name: string, fileSize: number): ElfSection | undefined {
  const section = layout.sections.find((s) => s.name === name);
  if (!section || section.type === SHT_NOBITS || section.size === 0) return undefined;
  return section.offset <= fileSize && section.size <= fileSize - section.offset ? section : undefined;
}
