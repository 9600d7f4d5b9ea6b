/**
 * Reads the GNU build ID (`NT_GNU_BUILD_ID` note) of an ELF file: ELF32 and ELF64, both byte orders,
 * notes found through `PT_NOTE` program headers or `SHT_NOTE` sections. Universal: no Node built-ins.
 *
 * One parser serves every source of bytes: {@link parseBuildId} is a generator that yields each byte
 * range it needs and receives a view of it, so {@link readBuildId} drives it over a `Uint8Array` and
 * `readBuildIdFromFile` (in `src/node/elf-file.ts`) over a file handle, reading only those ranges.
 *
 * @packageDocumentation
 */
// TypeScript over DataView, not the wasm core: a file needs a few dozen field reads, cheaper than copying its headers into linear memory, and every DataView access is bounds-checked.

import { instance, integer } from "./check.js";
import { ET_CORE, ET_DYN, ET_EXEC, ET_REL, NOTE_HEADER, PN_XNUM, PT_NOTE, SHT_NOTE } from "./elf-constants.js";
import { toHex } from "./hex.js";
import { BUILD_ID_MAX } from "./layout.js";

/** What was wrong with an ELF file; see {@link ElfError}. */
export type ElfErrorCode =
  /** The bytes do not start with the ELF magic `7f 45 4c 46`. */
  | "NOT_ELF"
  /** A header, table or note area lies (partly) past the end of the file. */
  | "TRUNCATED"
  /** The ELF header or a table entry size is invalid. */
  | "BAD_HEADER"
  /** A note area is malformed: bad alignment, or a note running past its area. */
  | "BAD_NOTE"
  /** A count or size exceeds an {@link ElfLimits} value; the reader stops rather than do unbounded work. */
  | "LIMIT"
  /** The file is well formed and has no (non-empty) GNU build-ID note. */
  | "NO_BUILD_ID";

/** The one error the ELF reader throws for bad or unusable input. */
export class ElfError extends Error {
  /** Always "ElfError", so the error can be told apart after serialisation. */
  override readonly name = "ElfError";
  /** What kind of problem it is. */
  readonly code: ElfErrorCode;

  /** @param code what kind of problem; @param message what was wrong, with the values involved. */
  constructor(code: ElfErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A build ID and the file it came from, from {@link readBuildId}. */
export interface BuildIdInfo {
  /** The ID as lowercase hex. */
  buildId: string;
  /** The raw ID (a copy; it does not hold on to the input). */
  bytes: Uint8Array;
  /** Length of the ID in bytes. */
  length: number;
  /** Whether the ID fits the kernel's `BUILD_ID_SIZE_MAX` ({@link BUILD_ID_MAX} bytes), and so the cache. */
  fitsKernel: boolean;
  /** ELF class. */
  elfClass: 32 | 64;
  /** Byte order of the file. */
  endian: "little" | "big";
  /** `e_type`: one of the four types the reader accepts. */
  type: "EXEC" | "DYN" | "REL" | "CORE" | string;
  /** `e_machine`, e.g. 62 for x86-64. */
  machine: number;
  /** Whether the note was found through a `PT_NOTE` program header or an `SHT_NOTE` section. */
  source: "program-header" | "section";
  /** File offset of the ID bytes (the note's descriptor). */
  offset: number;
}

/** Bounds on the work one read may do; exceeding one throws an {@link ElfError} with code `LIMIT`. */
export interface ElfLimits {
  /** Most program headers (a core file has one per mapping). */
  maxProgramHeaders: number;
  /** Most section headers. */
  maxSections: number;
  /** Most notes walked, over all note areas. */
  maxNotes: number;
  /** Longest build ID in bytes (readelf prints any length; real ones are 8 to 32). */
  maxBuildIdLength: number;
}

/** The limits used when none are given. */
export const DEFAULT_ELF_LIMITS: Readonly<ElfLimits> = Object.freeze({
  maxProgramHeaders: 65_536,
  maxSections: 262_144,
  maxNotes: 65_536,
  maxBuildIdLength: 1024,
});

/** Options for {@link readBuildId} and {@link parseBuildId}. */
export interface ReadBuildIdOptions {
  /** Overrides some of {@link DEFAULT_ELF_LIMITS}. */
  limits?: Partial<ElfLimits>;
}

/** A byte range {@link parseBuildId} needs next; it always lies within the file. */
export interface ElfRange {
  /** File offset. */
  offset: number;
  /** Bytes needed. */
  length: number;
}

/** The answer to an {@link ElfRange}: its bytes are `view[at, at + length)`. Valid until the next step. */
export interface ElfChunk {
  /** A view holding the requested bytes (and possibly more). */
  view: DataView;
  /** Where in `view` the requested range starts. */
  at: number;
}

/** The steps of one build-ID read: yields ranges, takes their bytes, returns the result or throws {@link ElfError}. */
export type BuildIdSteps = Generator<ElfRange, BuildIdInfo, ElfChunk>;

type Steps<T> = Generator<ElfRange, T, ElfChunk>;

const ELF_MAGIC = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46);
const NT_GNU_BUILD_ID = 3;
const GNU_NAME = 0x474e5500; // "GNU\0" read big-endian
const TWO_POW_32 = 0x1_0000_0000;

const E_TYPES: Readonly<Record<number, BuildIdInfo["type"]>> = {
  [ET_REL]: "REL",
  [ET_EXEC]: "EXEC",
  [ET_DYN]: "DYN",
  [ET_CORE]: "CORE",
};

/** `e_type`, `e_machine`, `p_type`, `sh_name`, `sh_type` and `sh_flags` sit at one offset in both classes. */
export const E_TYPE = 16;
export const E_MACHINE = 18;
export const P_TYPE = 0;
export const SH_NAME = 0;
export const SH_TYPE = 4;
export const SH_FLAGS = 8;

/** Byte offsets of the header fields whose place depends on the ELF class, and the headers' sizes. */
export interface ElfClassLayout {
  readonly elfClass: 32 | 64;
  /** Size of an address/offset field (`Elf32_Off` or `Elf64_Off`), and of `sh_flags`. */
  readonly word: 4 | 8;
  readonly ehdrSize: number;
  readonly ePhoff: number;
  readonly eShoff: number;
  readonly ePhentsize: number;
  readonly ePhnum: number;
  readonly eShentsize: number;
  readonly eShnum: number;
  readonly eShstrndx: number;
  readonly phdrSize: number;
  readonly pFlags: number;
  readonly pOffset: number;
  readonly pVaddr: number;
  readonly pFilesz: number;
  readonly pMemsz: number;
  readonly pAlign: number;
  readonly shdrSize: number;
  readonly shOffset: number;
  readonly shSize: number;
  readonly shLink: number;
  readonly shInfo: number;
  readonly shAddralign: number;
  /** Size of a compressed section's header (`Elf32_Chdr`, `Elf64_Chdr`). */
  readonly chdrSize: number;
  /** Offset of `ch_size` (a word) in it; `ch_type` is the u32 at 0 in both classes. */
  readonly chSize: number;
}

// biome-ignore format: a table
export const ELF32: ElfClassLayout = {
  elfClass: 32, word: 4,
  ehdrSize: 52, ePhoff: 28, eShoff: 32, ePhentsize: 42, ePhnum: 44, eShentsize: 46, eShnum: 48, eShstrndx: 50,
  phdrSize: 32, pFlags: 24, pOffset: 4, pVaddr: 8, pFilesz: 16, pMemsz: 20, pAlign: 28,
  shdrSize: 40, shOffset: 16, shSize: 20, shLink: 24, shInfo: 28, shAddralign: 32,
  chdrSize: 12, chSize: 4,
};

// biome-ignore format: a table
export const ELF64: ElfClassLayout = {
  elfClass: 64, word: 8,
  ehdrSize: 64, ePhoff: 32, eShoff: 40, ePhentsize: 54, ePhnum: 56, eShentsize: 58, eShnum: 60, eShstrndx: 62,
  phdrSize: 56, pFlags: 4, pOffset: 8, pVaddr: 16, pFilesz: 32, pMemsz: 40, pAlign: 48,
  shdrSize: 64, shOffset: 24, shSize: 32, shLink: 40, shInfo: 44, shAddralign: 48,
  chdrSize: 24, chSize: 8,
};

/** The ELF header fields the reader uses. */
interface Header {
  readonly layout: ElfClassLayout;
  readonly le: boolean;
  readonly type: BuildIdInfo["type"];
  readonly machine: number;
  readonly phoff: number;
  readonly phentsize: number;
  readonly phnum: number;
  readonly shoff: number;
  readonly shentsize: number;
  readonly shnum: number;
}

/** State of one read: the file, its header, the limits, and what was seen so far. */
interface Context {
  readonly size: number;
  readonly h: Header;
  readonly limits: ElfLimits;
  notes: number;
  areas: number;
  /** The first malformed table or note area met; thrown if no build ID turns up elsewhere. */
  problem: ElfError | undefined;
}

interface Found {
  offset: number;
  bytes: Uint8Array;
  source: BuildIdInfo["source"];
}

/** Hex of a file offset or size; values of 2^53 and more were clamped to Infinity by {@link word}. */
function hex(n: number): string {
  return Number.isFinite(n) ? `0x${n.toString(16)}` : "≥ 2^53";
}

function count(n: number): string {
  return Number.isFinite(n) ? String(n) : "≥ 2^53";
}

/** `n` rounded up to a multiple of `alignment` (a power of two), exact for all n < 2^53 unlike `&`. */
function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function u16(c: ElfChunk, field: number, le: boolean): number {
  return c.view.getUint16(c.at + field, le);
}

function u32(c: ElfChunk, field: number, le: boolean): number {
  return c.view.getUint32(c.at + field, le);
}

/**
 * An `Elf32_Off`/`Elf64_Off`-sized field as a number. A u64 comes in as two u32 halves; past 2^53 it
 * becomes Infinity, so it fails every bounds check and no sum of checked values loses precision.
 */
function word(c: ElfChunk, field: number, h: Pick<Header, "layout" | "le">): number {
  if (h.layout.word === 4) return u32(c, field, h.le);
  const lo = u32(c, h.le ? field : field + 4, h.le);
  const hi = u32(c, h.le ? field + 4 : field, h.le);
  return hi < 0x20_0000 ? hi * TWO_POW_32 + lo : Number.POSITIVE_INFINITY;
}

/**
 * Whether `bytes` start with the ELF magic `7f 45 4c 46`: the test {@link readBuildId} applies first.
 *
 * @example
 * ```ts
 * hasElfMagic(new Uint8Array(await file.slice(0, 4).arrayBuffer())); // true for an ELF file
 * ```
 */
export function hasElfMagic(bytes: Uint8Array): boolean {
  if (bytes.length < ELF_MAGIC.length) return false;
  for (let i = 0; i < ELF_MAGIC.length; i++) if (bytes[i] !== ELF_MAGIC[i]) return false;
  return true;
}

const spaced = (bytes: Uint8Array): string => toHex(bytes).replace(/(..)(?!$)/g, "$1 ");

function readHeader(c: ElfChunk, size: number): Header {
  if (size === 0) throw new ElfError("NOT_ELF", "not an ELF file: it is empty");
  const start = new Uint8Array(c.view.buffer, c.view.byteOffset + c.at, Math.min(size, ELF_MAGIC.length));
  // A file shorter than the magic is ELF (and TRUNCATED) when the bytes it has match.
  const padded = ELF_MAGIC.slice();
  padded.set(start);
  if (!hasElfMagic(padded)) {
    throw new ElfError("NOT_ELF", `not an ELF file: it starts with ${spaced(start)}, not ${spaced(ELF_MAGIC)}`);
  }
  if (size < 6) throw new ElfError("TRUNCATED", `the file has ${size} bytes, too few for an ELF header`);
  const eiClass = c.view.getUint8(c.at + 4);
  const eiData = c.view.getUint8(c.at + 5);
  if (eiClass !== 1 && eiClass !== 2) {
    throw new ElfError("BAD_HEADER", `EI_CLASS is ${eiClass}, not 1 (ELFCLASS32) or 2 (ELFCLASS64)`);
  }
  if (eiData !== 1 && eiData !== 2) {
    throw new ElfError("BAD_HEADER", `EI_DATA is ${eiData}, not 1 (little-endian) or 2 (big-endian)`);
  }
  const layout = eiClass === 1 ? ELF32 : ELF64;
  if (size < layout.ehdrSize) {
    throw new ElfError(
      "TRUNCATED",
      `the file has ${size} bytes, fewer than the ${layout.ehdrSize}-byte ELF${layout.elfClass} header`,
    );
  }
  const le = eiData === 1;
  const eType = u16(c, E_TYPE, le);
  const type = E_TYPES[eType];
  if (type === undefined) {
    throw new ElfError("BAD_HEADER", `e_type is 0x${eType.toString(16)}, not ET_REL, ET_EXEC, ET_DYN or ET_CORE`);
  }
  return {
    layout,
    le,
    type,
    machine: u16(c, E_MACHINE, le),
    phoff: word(c, layout.ePhoff, { layout, le }),
    phentsize: u16(c, layout.ePhentsize, le),
    phnum: u16(c, layout.ePhnum, le),
    shoff: word(c, layout.eShoff, { layout, le }),
    shentsize: u16(c, layout.eShentsize, le),
    shnum: u16(c, layout.eShnum, le),
  };
}

/** Checks that a table of `n` entries of `entsize` bytes at `offset` is sane, within limits and within the file. */
function checkTable(
  ctx: Context,
  what: string,
  offset: number,
  entsize: number,
  minimum: number,
  n: number,
  limit: number,
): void {
  const { size, h } = ctx;
  if (entsize < minimum) {
    throw new ElfError(
      "BAD_HEADER",
      `${what} entries are ${entsize} bytes, smaller than an ELF${h.layout.elfClass} ${what} (${minimum})`,
    );
  }
  if (n > limit) throw new ElfError("LIMIT", `${count(n)} ${what}s exceed the limit of ${limit}`);
  if (offset > size || n * entsize > size - offset) {
    throw new ElfError(
      "TRUNCATED",
      `${what} table at ${hex(offset)} (${n} x ${entsize} bytes) runs past the end of the file (${hex(size)} bytes)`,
    );
  }
}

/** Section header 0, which holds the real counts when `e_phnum` or `e_shnum` overflowed. */
function* sectionZero(ctx: Context, why: string): Steps<{ info: number; size: number }> {
  const { h } = ctx;
  if (h.shoff === 0)
    throw new ElfError("BAD_HEADER", `${why}, but there is no section header 0 to hold it (e_shoff is 0)`);
  checkTable(ctx, "section header", h.shoff, h.shentsize, h.layout.shdrSize, 1, Number.POSITIVE_INFINITY);
  const s = yield { offset: h.shoff, length: h.layout.shdrSize };
  return { info: u32(s, h.layout.shInfo, h.le), size: word(s, h.layout.shSize, h) };
}

/** Runs one source of notes; a malformed one is remembered and skipped as readelf does, a LIMIT ends the read. */
function* attempt(ctx: Context, steps: Steps<Found | undefined>): Steps<Found | undefined> {
  try {
    return yield* steps;
  } catch (e) {
    if (!(e instanceof ElfError) || e.code === "LIMIT") throw e;
    ctx.problem ??= e;
    return undefined;
  }
}

/** Walks the notes of one area, readelf's way: offsets within a note are aligned relative to its start. */
function* notes(
  ctx: Context,
  offset: number,
  length: number,
  alignField: number,
  where: string,
  source: Found["source"],
): Steps<Found | undefined> {
  const { size, h, limits } = ctx;
  if (offset > size || length > size - offset) {
    throw new ElfError(
      "TRUNCATED",
      `${where} at ${hex(offset)} (${hex(length)} bytes) runs past the end of the file (${hex(size)} bytes)`,
    );
  }
  if (alignField > 4 && alignField !== 8) {
    throw new ElfError("BAD_NOTE", `${where} has alignment ${count(alignField)}; notes are aligned to 4 or 8`);
  }
  const alignment = alignField === 8 ? 8 : 4;
  const end = offset + length;
  for (let at = offset; at < end; ) {
    if (++ctx.notes > limits.maxNotes) throw new ElfError("LIMIT", `more than ${limits.maxNotes} notes`);
    const left = end - at;
    if (left < NOTE_HEADER) {
      throw new ElfError("BAD_NOTE", `${where}: ${left} bytes left at ${hex(at)}, too few for a note header`);
    }
    const n = yield { offset: at, length: NOTE_HEADER };
    const namesz = u32(n, 0, h.le);
    const descsz = u32(n, 4, h.le);
    const type = u32(n, 8, h.le);
    const descStart = alignUp(NOTE_HEADER + namesz, alignment);
    if (descStart > left || descsz > left - descStart) {
      throw new ElfError(
        "BAD_NOTE",
        `${where}: the note at ${hex(at)} (namesz ${namesz}, descsz ${descsz}) runs past the area's end at ${hex(end)}`,
      );
    }
    if (type === NT_GNU_BUILD_ID && namesz === 4 && descsz > 0) {
      const name = yield { offset: at + NOTE_HEADER, length: 4 };
      if (name.view.getUint32(name.at, false) === GNU_NAME) {
        if (descsz > limits.maxBuildIdLength) {
          throw new ElfError(
            "LIMIT",
            `the build ID at ${hex(at + descStart)} is ${descsz} bytes, over the limit of ${limits.maxBuildIdLength}`,
          );
        }
        const d = yield { offset: at + descStart, length: descsz };
        const bytes = new Uint8Array(d.view.buffer, d.view.byteOffset + d.at, descsz).slice();
        return { offset: at + descStart, bytes, source };
      }
    }
    at += alignUp(descStart + descsz, alignment);
  }
  return undefined;
}

function* segmentNotes(ctx: Context): Steps<Found | undefined> {
  const { h } = ctx;
  let n = h.phnum;
  if (n === 0) return undefined;
  if (n === PN_XNUM) n = (yield* sectionZero(ctx, "e_phnum is PN_XNUM (0xffff)")).info;
  checkTable(ctx, "program header", h.phoff, h.phentsize, h.layout.phdrSize, n, ctx.limits.maxProgramHeaders);
  for (let i = 0; i < n; i++) {
    const p = yield { offset: h.phoff + i * h.phentsize, length: h.layout.phdrSize };
    if (u32(p, P_TYPE, h.le) !== PT_NOTE) continue;
    ctx.areas++;
    const where = `PT_NOTE program header ${i}`;
    const area = notes(
      ctx,
      word(p, h.layout.pOffset, h),
      word(p, h.layout.pFilesz, h),
      word(p, h.layout.pAlign, h),
      where,
      "program-header",
    );
    const found = yield* attempt(ctx, area);
    if (found) return found;
  }
  return undefined;
}

function* sectionNotes(ctx: Context): Steps<Found | undefined> {
  const { h } = ctx;
  if (h.shoff === 0) return undefined;
  let n = h.shnum;
  if (n === 0) n = (yield* sectionZero(ctx, "e_shnum is 0 with a section table")).size;
  checkTable(ctx, "section header", h.shoff, h.shentsize, h.layout.shdrSize, n, ctx.limits.maxSections);
  for (let i = 0; i < n; i++) {
    const s = yield { offset: h.shoff + i * h.shentsize, length: h.layout.shdrSize };
    if (u32(s, SH_TYPE, h.le) !== SHT_NOTE) continue;
    ctx.areas++;
    const where = `SHT_NOTE section ${i}`;
    const area = notes(
      ctx,
      word(s, h.layout.shOffset, h),
      word(s, h.layout.shSize, h),
      word(s, h.layout.shAddralign, h),
      where,
      "section",
    );
    const found = yield* attempt(ctx, area);
    if (found) return found;
  }
  return undefined;
}

/**
 * The build-ID read as steps, for any source of bytes: each yielded {@link ElfRange} (always within
 * `size`) must be answered with an {@link ElfChunk} holding its bytes. `PT_NOTE` segments come first
 * (the kernel's and profilers' choice: they sit in the file's first page), then `SHT_NOTE` sections.
 * A malformed table or note area is skipped as readelf skips it; if no build ID turns up elsewhere,
 * the first such problem is thrown, otherwise `NO_BUILD_ID`.
 *
 * All ELF types with notes are accepted: `ET_REL`, `ET_EXEC`, `ET_DYN` and `ET_CORE`. A core file is
 * searched like the others (as `readelf -n` does), but a Linux core's own notes hold no build ID: the
 * IDs of the files it mapped are in those files' first pages, so a core normally ends in `NO_BUILD_ID`.
 *
 * A build ID note is `n_type` 3 with name `"GNU\0"` and a non-empty descriptor; an empty one is
 * skipped, as the kernel skips it.
 *
 * @param size the file size in bytes
 */
export function* parseBuildId(size: number, options: ReadBuildIdOptions = {}): BuildIdSteps {
  integer("size", size, 0);
  const limits = { ...DEFAULT_ELF_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) integer(`limits.${name}`, value, 0);
  const first = yield { offset: 0, length: Math.min(size, ELF64.ehdrSize) };
  const h = readHeader(first, size);
  const ctx: Context = { size, h, limits, notes: 0, areas: 0, problem: undefined };
  const found = (yield* attempt(ctx, segmentNotes(ctx))) ?? (yield* attempt(ctx, sectionNotes(ctx)));
  if (!found) {
    if (ctx.problem) throw ctx.problem;
    const core = h.type === "CORE" ? " (a core file's build IDs are in the files it maps, not in its own notes)" : "";
    const areas = `${ctx.areas} note area${ctx.areas === 1 ? "" : "s"}`;
    throw new ElfError("NO_BUILD_ID", `no NT_GNU_BUILD_ID note in ${areas}${core}`);
  }
  return {
    buildId: toHex(found.bytes),
    bytes: found.bytes,
    length: found.bytes.length,
    fitsKernel: found.bytes.length <= BUILD_ID_MAX,
    elfClass: h.layout.elfClass,
    endian: h.le ? "little" : "big",
    type: h.type,
    machine: h.machine,
    source: found.source,
    offset: found.offset,
  };
}

/**
 * Reads the GNU build ID of the ELF file in `bytes`; see {@link parseBuildId} for what is accepted.
 * Throws {@link ElfError} (code `NO_BUILD_ID` when there is none); never reads outside `bytes`.
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array(await (await fetch("libfoo.so")).arrayBuffer());
 * readBuildId(bytes).buildId; // "f7795cd5b54bfa71cab88f597d40c6d6229d679c"
 * ```
 */
export function readBuildId(bytes: Uint8Array, options?: ReadBuildIdOptions): BuildIdInfo {
  instance("bytes", bytes, Uint8Array);
  const chunk: ElfChunk = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), at: 0 };
  const steps = parseBuildId(bytes.length, options);
  let step = steps.next(chunk);
  while (!step.done) {
    chunk.at = step.value.offset;
    step = steps.next(chunk);
  }
  return step.value;
}
