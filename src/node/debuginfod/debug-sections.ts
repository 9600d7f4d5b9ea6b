/**
 * The bytes of an ELF file's DWARF sections as elfutils' libelf hands them to libdw: plain, compressed
 * with `SHF_COMPRESSED` (zlib or zstd, behind an `Elf32_Chdr`/`Elf64_Chdr`), or the legacy `.zdebug_*`
 * form ("ZLIB", an 8-byte big-endian size, zlib data). A compressed section is inflated whole, to
 * exactly the size its header states and never past {@link DwarfLimits.maxSectionBytes}; a plain one is
 * read through the file in windows, so a large `.debug_info` costs only the bytes a reader asks for.
 *
 * @packageDocumentation
 */
import { inflateSync } from "node:zlib";
import { ELFCOMPRESS_ZLIB, ELFCOMPRESS_ZSTD, SHF_COMPRESSED, SHT_NOBITS } from "../../elf-constants.js";
import { ZstdDecoder } from "../../zstd.js";
import { fzstdEngine } from "../../zstd-fzstd.js";
import type { ElfLayout, ElfSection, ReadAt } from "./sections.js";

/** What was wrong with a file's DWARF; see {@link DwarfError}. */
export type DwarfErrorCode =
  /** A section, unit or table runs past the bytes that hold it. */
  | "TRUNCATED"
  /** A compressed section that does not inflate to the size its header states. */
  | "BAD_COMPRESSION"
  /** A compression type other than zlib and zstd. */
  | "UNSUPPORTED"
  /** A count or size past a {@link DwarfLimits} bound; reading stopped rather than do unbounded work. */
  | "LIMIT";

/** The one error the DWARF source-name reader throws for bad or unusable input (malformed ELF headers are {@link ElfError}s). */
export class DwarfError extends Error {
  /** Always "DwarfError", so the error can be told apart after serialisation. */
  override readonly name = "DwarfError";
  /** What kind of problem it is. */
  readonly code: DwarfErrorCode;

  /** @param code what kind of problem; @param message what was wrong, with the values involved. */
  constructor(code: DwarfErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Bounds on the work and memory one file may cost; see {@link DEFAULT_DWARF_LIMITS}. */
export interface DwarfLimits {
  /** Most bytes a compressed section may inflate to, and a line-table header may span. */
  maxSectionBytes: number;
  /** Most units read from `.debug_info`. */
  maxUnits: number;
  /** Most directories, and most files, one line table may list. */
  maxFilesPerUnit: number;
  /** Most file entries read over all units (a unit's table is read again for each unit that names it). */
  maxFileEntries: number;
  /** Most distinct source paths one file may name. */
  maxNames: number;
}

/**
 * The bounds used unless overridden. Counts are well past the largest real debug files (Chromium's:
 * about 100k units, a few thousand files a unit); the section bound holds the line tables and strings
 * of such files, and caps the memory one file may take at six inflated sections.
 */
export const DEFAULT_DWARF_LIMITS: Readonly<DwarfLimits> = Object.freeze({
  maxSectionBytes: 256 << 20,
  maxUnits: 4_000_000,
  maxFilesPerUnit: 1_000_000,
  maxFileEntries: 200_000_000,
  maxNames: 2_000_000,
});

/** One DWARF section's bytes, read on demand. */
export interface DebugSection {
  /** The section's name as the file spells it (`.debug_line`, `.zdebug_line`). */
  name: string;
  /** Its size in bytes, inflated. */
  size: number;
  /**
   * `length` bytes at `offset`, valid until the next call.
   * @throws {@link DwarfError} `TRUNCATED` when the range is not inside the section.
   */
  bytes(offset: number, length: number): Uint8Array;
}

/** Plain sections up to this size are read at once; larger ones in {@link WINDOW}-byte windows. */
const WHOLE = 8 << 20;
const WINDOW = 64 << 10;
const ZDEBUG_HEADER = 12;

function outside(name: string, size: number, offset: number, length: number): DwarfError {
  return new DwarfError(
    "TRUNCATED",
    `${name}: ${length} bytes at 0x${offset.toString(16)} run past its end (${size} bytes)`,
  );
}

function fileBytes(read: ReadAt, fileSize: number, s: ElfSection, offset: number, length: number): Uint8Array {
  if (s.offset + offset + length > fileSize)
    throw new DwarfError("TRUNCATED", `${s.name} at 0x${s.offset.toString(16)} runs past the end of the file`);
  const got = read(s.offset + offset, length);
  if (got.length < length) throw new DwarfError("TRUNCATED", `${s.name}: read ${got.length} of ${length} bytes`);
  return got;
}

function inMemory(name: string, data: Uint8Array): DebugSection {
  return {
    name,
    size: data.length,
    bytes(offset, length) {
      if (offset < 0 || length < 0 || offset + length > data.length) throw outside(name, data.length, offset, length);
      return data.subarray(offset, offset + length);
    },
  };
}

function windowed(read: ReadAt, fileSize: number, s: ElfSection): DebugSection {
  let start = 0;
  let window: Uint8Array = new Uint8Array(0);
  return {
    name: s.name,
    size: s.size,
    bytes(offset, length) {
      if (offset < 0 || length < 0 || offset + length > s.size) throw outside(s.name, s.size, offset, length);
      if (offset < start || offset + length > start + window.length) {
        start = offset;
        window = fileBytes(read, fileSize, s, offset, Math.min(Math.max(length, WINDOW), s.size - offset));
      }
      return window.subarray(offset - start, offset - start + length);
    },
  };
}

function checkInflated(name: string, got: number, want: number): void {
  if (got !== want)
    throw new DwarfError("BAD_COMPRESSION", `${name} inflates to ${got} bytes, not the ${want} its header states`);
}

// As libelf, the stream must fill the stated size and use every byte of the section: llvm-objcopy 14 leaves 12 zero bytes after an ELF32 section's stream, which readelf and libdw refuse too.
function inflateZlib(name: string, data: Uint8Array, size: number): Uint8Array {
  let result: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    // One output buffer of the stated size (+1 to see the stream end in it), not 16 KiB chunks joined: those
    // fragment the C heap, which a scan of many debuginfo files then holds as RSS.
    const chunkSize = Math.max(size + 1, 64);
    result = inflateSync(data, {
      maxOutputLength: Math.max(size, 1),
      chunkSize,
      info: true,
    }) as unknown as typeof result;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      throw new DwarfError("BAD_COMPRESSION", `${name} inflates past the ${size} bytes its header states`);
    throw new DwarfError("BAD_COMPRESSION", `${name}: corrupt zlib data: ${(error as Error).message}`);
  }
  checkInflated(name, result.buffer.length, size);
  const left = data.length - result.engine.bytesWritten;
  if (left !== 0) throw new DwarfError("BAD_COMPRESSION", `${name}: ${left} bytes after the end of its zlib stream`);
  return result.buffer;
}

// A frame may name no larger window than the section inflates to (1 MiB at least): fzstd allocates it.
function inflateZstd(name: string, data: Uint8Array, size: number): Uint8Array {
  const decoder = new ZstdDecoder(
    { maxWindow: Math.max(size, 1 << 20) },
    (fault, detail) => new DwarfError(fault === "LIMIT" ? "LIMIT" : "BAD_COMPRESSION", `${name}: ${detail}`),
    fzstdEngine,
  );
  const out = new Uint8Array(size);
  let at = 0;
  const write = (blocks: Iterable<Uint8Array>) => {
    for (const chunk of blocks) {
      if (at + chunk.length > size)
        throw new DwarfError("BAD_COMPRESSION", `${name} inflates past the ${size} bytes its header states`);
      out.set(chunk, at);
      at += chunk.length;
    }
  };
  write(decoder.decode(data));
  write(decoder.end());
  checkInflated(name, at, size);
  return out;
}

function compressed(read: ReadAt, fileSize: number, layout: ElfLayout, s: ElfSection, maxBytes: number): DebugSection {
  const L = layout.classLayout;
  const le = layout.littleEndian;
  const zdebug = !(s.flags & SHF_COMPRESSED);
  const header = zdebug ? ZDEBUG_HEADER : L.chdrSize;
  if (s.size < header)
    throw new DwarfError(
      "TRUNCATED",
      `${s.name} has ${s.size} bytes, fewer than its ${header}-byte compression header`,
    );
  const head = new DataView(fileBytes(read, fileSize, s, 0, header).slice().buffer);
  let type: number;
  let size: bigint;
  if (zdebug) {
    if (head.getUint32(0) !== 0x5a4c4942)
      throw new DwarfError("BAD_COMPRESSION", `${s.name} does not start with "ZLIB" and an 8-byte size`);
    type = ELFCOMPRESS_ZLIB;
    size = head.getBigUint64(4);
  } else {
    type = head.getUint32(0, le);
    size = L.word === 8 ? head.getBigUint64(L.chSize, le) : BigInt(head.getUint32(L.chSize, le));
  }
  if (type !== ELFCOMPRESS_ZLIB && type !== ELFCOMPRESS_ZSTD)
    throw new DwarfError("UNSUPPORTED", `${s.name} is compressed with ch_type ${type}, neither zlib (1) nor zstd (2)`);
  if (size > BigInt(maxBytes) || s.size - header > maxBytes)
    throw new DwarfError("LIMIT", `${s.name} inflates to ${size} bytes, more than the limit of ${maxBytes}`);
  const data = fileBytes(read, fileSize, s, header, s.size - header);
  const n = Number(size);
  return inMemory(s.name, type === ELFCOMPRESS_ZLIB ? inflateZlib(s.name, data, n) : inflateZstd(s.name, data, n));
}

/**
 * The section `.debug_NAME` of a file (given as `name`, e.g. `.debug_line`), or its `.zdebug_NAME`
 * form, whichever comes first in the section table as libdw takes it; `undefined` when neither has
 * bytes in the file. A plain section is read at once when small or `whole`, else in windows.
 * @throws {@link DwarfError} `TRUNCATED`, `BAD_COMPRESSION`, `UNSUPPORTED` or `LIMIT` (a compressed or
 *   `whole` section past `maxBytes`) for a section that cannot be read.
 */
export function debugSection(
  read: ReadAt,
  fileSize: number,
  layout: ElfLayout,
  name: string,
  maxBytes: number,
  whole = false,
): DebugSection | undefined {
  const zname = `.z${name.slice(1)}`;
  const s = layout.sections.find((x) => (x.name === name || x.name === zname) && x.type !== SHT_NOBITS && x.size > 0);
  if (!s) return undefined;
  if (s.flags & SHF_COMPRESSED || s.name === zname) return compressed(read, fileSize, layout, s, maxBytes);
  if (whole && s.size > maxBytes)
    throw new DwarfError("LIMIT", `${s.name} has ${s.size} bytes, more than the limit of ${maxBytes}`);
  if (whole || s.size <= WHOLE) return inMemory(s.name, fileBytes(read, fileSize, s, 0, s.size));
  return windowed(read, fileSize, s);
}
