/**
 * The build IDs of the files a core dump maps, read from the core alone, as `eu-unstrip -n --core`
 * reports them. The core's `NT_FILE` note names each mapped file with its address range and file
 * offset; the file's ELF header, program headers and notes lie in the memory its mapping at offset 0
 * covers, which the core holds when its filter kept them (the kernel's default keeps the first page of
 * every ELF mapping). {@link parseBuildId} reads them there: each file range it asks for is mapped
 * through `NT_FILE` to a virtual address and through the `PT_LOAD` segments to an offset in the core.
 *
 * Only ELF64 little-endian cores (x86-64, AArch64, RISC-V, …) are read; any number of program
 * headers, extended numbering (`e_phnum` = `PN_XNUM`, the real count in section 0's `sh_info`)
 * included. Every offset and count in the core is checked against its size and {@link CoreLimits}.
 *
 * @packageDocumentation
 */
import type { FileHandle } from "node:fs/promises";
import { integer, string } from "../check.js";
import {
  E_MACHINE,
  E_TYPE,
  ELF64,
  type ElfChunk,
  ElfError,
  type ElfRange,
  hasElfMagic,
  P_TYPE,
  parseBuildId,
  type ReadBuildIdOptions,
} from "../elf.js";
import { ET_CORE, NOTE_HEADER, PN_XNUM, PT_LOAD, PT_NOTE } from "../elf-constants.js";
import { openRegular } from "./safe-open.js";

/** What was wrong with a core file; see {@link CoreFileError}. */
export type CoreFileErrorCode =
  /** The file is not an ELF file. */
  | "NOT_ELF"
  /** An ELF file, but not a core dump (`e_type` is not `ET_CORE`). */
  | "NOT_CORE"
  /** A core of a class or byte order this reader does not read (only ELF64 little-endian). */
  | "UNSUPPORTED"
  /** The ELF header or a program-header entry size is invalid. */
  | "BAD_HEADER"
  /** A header, table or note area lies (partly) past the end of the file. */
  | "TRUNCATED"
  /** A note area or the `NT_FILE` note is malformed. */
  | "BAD_NOTE"
  /** A count or size exceeds a {@link CoreLimits} value. */
  | "LIMIT"
  /** The core has no `NT_FILE` note (kernels before 3.7 and some tools write none), so it names no files. */
  | "NO_FILE_NOTE";

/** The error {@link readCoreBuildIds} throws for a file it cannot read as a core; its message names the file. */
export class CoreFileError extends Error {
  /** Always "CoreFileError", so the error can be told apart after serialisation. */
  override readonly name = "CoreFileError";
  /** What kind of problem it is. */
  readonly code: CoreFileErrorCode;

  /** @param code what kind of problem; @param message what was wrong, with the file and the values involved. */
  constructor(code: CoreFileErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Bounds on the work one core read may do; exceeding one throws a {@link CoreFileError} with code `LIMIT`. */
export interface CoreLimits {
  /** Most program headers (one per mapping; Linux allows `vm.max_map_count`, 65,530 by default). */
  maxSegments: number;
  /** Most bytes of note areas read, in all. */
  maxNoteBytes: number;
  /** Most `NT_FILE` entries. */
  maxMappings: number;
  /** Most byte ranges read for the mapped files' headers and notes, over all files. */
  maxImageReads: number;
}

/** The limits used when none are given. */
export const DEFAULT_CORE_LIMITS: Readonly<CoreLimits> = Object.freeze({
  maxSegments: 1 << 22,
  maxNoteBytes: 256 * 1024 * 1024,
  maxMappings: 1 << 22,
  maxImageReads: 1 << 24,
});

/** Options for {@link readCoreBuildIds}. */
export interface ReadCoreOptions {
  /** Overrides some of {@link DEFAULT_CORE_LIMITS}. */
  limits?: Partial<CoreLimits>;
  /** Options for reading each mapped file's ELF headers, passed to {@link parseBuildId}. */
  elf?: ReadBuildIdOptions;
}

/** What the core says about one mapped file. */
export type CoreModuleStatus =
  /** Its build ID was read from the core. */
  | "found"
  /** Its headers are in the core and carry no build ID. */
  | "no-build-id"
  /** The bytes its headers or notes lie in were not captured (the core filter left them out, or the core was cut short). */
  | "not-in-core"
  /** Its first bytes are in the core and are not an ELF header: a data file. */
  | "not-elf"
  /** Its ELF headers in the core are malformed; see {@link CoreModule.problem}. */
  | "bad-elf"
  /** No mapping of it starts at file offset 0, so its header was never in memory. */
  | "no-header-mapping";

/** One file the core maps (a run of `NT_FILE` entries from one at file offset 0), or the vDSO. */
export interface CoreModule {
  /** The path `NT_FILE` gives, or `[vdso]` for the kernel's vDSO (found through `AT_SYSINFO_EHDR`). */
  path: string;
  /** Start address of its mapping at file offset 0 (its first mapping when it has none). */
  start: bigint;
  /** End address of its last mapping. */
  end: bigint;
  /** Whether its build ID could be read, and if not, why. */
  status: CoreModuleStatus;
  /** The build ID, lowercase hex, when `status` is `found`. */
  buildId?: string;
  /** What was wrong, when `status` is `bad-elf`. */
  problem?: string;
}

/** What {@link readCoreBuildIds} found in one core. */
export interface CoreReport {
  /** `e_machine` of the core, e.g. 62 for x86-64. */
  machine: number;
  /** Program headers in the core. */
  segments: number;
  /** Whether the count came from section 0 (`e_phnum` = `PN_XNUM`). */
  extendedNumbering: boolean;
  /** `NT_FILE` entries. */
  mappings: number;
  /** The mapped files, by start address. */
  modules: CoreModule[];
  /** How many modules have status `not-in-core`. */
  notInCore: number;
}

const NT_AUXV = 6;
const NT_FILE = 0x46494c45; // "FILE"
const AT_SYSINFO_EHDR = 33n;
const FILE_ENTRY = 24; // start, end, page offset: three u64
const READ_AHEAD = 64 * 1024;
const LATIN1 = new TextDecoder("latin1");
const PHDR_BYTES_PER_READ = 256 * 1024;

/** A `PT_LOAD` segment: `captured` bytes from `vaddr` are in the core at `offset`. */
interface Segment {
  vaddr: bigint;
  memsz: bigint;
  captured: bigint;
  offset: number;
}

/** One `NT_FILE` entry. */
interface FileMapping {
  start: bigint;
  end: bigint;
  fileOffset: bigint;
  path: string;
}

/** A run of mappings of one file, read as one ELF image. */
interface Image {
  module: CoreModule;
  mappings: FileMapping[];
}

/** A file range {@link parseBuildId} asked for whose bytes the core does not hold. */
class NotCaptured extends Error {}

/** Reads a core file's bytes, a window at a time; never past its size. */
class CoreBytes {
  private window = new Uint8Array(0);
  private start = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly name: string,
  ) {}

  /** `length` bytes at `offset`, which the caller has checked lie within the file. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < this.start || offset + length > this.start + this.window.length) {
      const want = Math.min(Math.max(length, READ_AHEAD), this.size - offset);
      const buffer = new Uint8Array(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await this.handle.read(buffer, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < length) fail(this, "TRUNCATED", `the file shrank while it was read (${got} bytes at 0x${hex(offset)})`);
      this.window = buffer.subarray(0, got);
      this.start = offset;
    }
    return this.window.subarray(offset - this.start, offset - this.start + length);
  }
}

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function hex(n: number | bigint): string {
  return n.toString(16);
}

function fail(core: CoreBytes, code: CoreFileErrorCode, message: string): never {
  throw new CoreFileError(code, `${core.name}: ${message}`);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A u64 field that must be a file offset or size: beyond the file it fails the caller's bounds check. */
function offsetField(v: DataView, at: number): number {
  const n = v.getBigUint64(at, true);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(n);
}

function checkLimits(options: ReadCoreOptions): CoreLimits {
  const limits = { ...DEFAULT_CORE_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) integer(`limits.${name}`, value, 0);
  return limits;
}

/** The ELF header's program-header table: where it is, how many entries, and whether the count was extended. */
async function programHeaderTable(core: CoreBytes, limits: CoreLimits) {
  if (core.size < 4) fail(core, "NOT_ELF", `not an ELF file: it has ${core.size} bytes`);
  const first = await core.read(0, Math.min(core.size, ELF64.ehdrSize));
  if (!hasElfMagic(first)) fail(core, "NOT_ELF", "not an ELF file: no 7f 45 4c 46 magic");
  const h = view(first);
  if (core.size < 6) fail(core, "TRUNCATED", `${core.size} bytes, too few for an ELF header`);
  const elfClass = h.getUint8(4);
  const data = h.getUint8(5);
  if (elfClass !== 2 || data !== 1) {
    const what = `${elfClass === 1 ? "ELF32" : elfClass === 2 ? "ELF64" : `EI_CLASS ${elfClass}`} ${data === 1 ? "little-endian" : data === 2 ? "big-endian" : `EI_DATA ${data}`}`;
    fail(core, "UNSUPPORTED", `an ${what} file; only ELF64 little-endian cores are read`);
  }
  if (core.size < ELF64.ehdrSize)
    fail(core, "TRUNCATED", `${core.size} bytes, fewer than the ${ELF64.ehdrSize}-byte ELF64 header`);
  const type = h.getUint16(E_TYPE, true);
  if (type !== ET_CORE) fail(core, "NOT_CORE", `e_type is ${type}, not ET_CORE (4): not a core dump`);
  const machine = h.getUint16(E_MACHINE, true);
  const phoff = offsetField(h, ELF64.ePhoff);
  const shoff = offsetField(h, ELF64.eShoff);
  const phentsize = h.getUint16(ELF64.ePhentsize, true);
  let count = h.getUint16(ELF64.ePhnum, true);
  const extended = count === PN_XNUM;
  if (extended) {
    const shentsize = h.getUint16(ELF64.eShentsize, true);
    if (shoff === 0)
      fail(core, "BAD_HEADER", "e_phnum is PN_XNUM (0xffff) but there is no section header 0 (e_shoff is 0)");
    if (shentsize < ELF64.shdrSize)
      fail(core, "BAD_HEADER", `section headers are ${shentsize} bytes, fewer than ${ELF64.shdrSize}`);
    if (shoff > core.size - ELF64.shdrSize)
      fail(core, "TRUNCATED", `section header 0 at 0x${hex(shoff)} runs past the end`);
    count = view(await core.read(shoff, ELF64.shdrSize)).getUint32(ELF64.shInfo, true);
  }
  if (count > 0 && phentsize < ELF64.phdrSize)
    fail(core, "BAD_HEADER", `program headers are ${phentsize} bytes, fewer than ${ELF64.phdrSize}`);
  if (count > limits.maxSegments)
    fail(core, "LIMIT", `${count} program headers exceed the limit of ${limits.maxSegments}`);
  if (phoff > core.size || count * phentsize > core.size - phoff) {
    fail(core, "TRUNCATED", `the program headers at 0x${hex(phoff)} (${count} x ${phentsize} bytes) run past the end`);
  }
  return { machine, phoff, phentsize, count, extended };
}

/** Every `PT_LOAD` (sorted by address, captured bytes cut at the file's end) and `PT_NOTE` of the core. */
async function segments(core: CoreBytes, table: Awaited<ReturnType<typeof programHeaderTable>>) {
  const loads: Segment[] = [];
  const notes: { offset: number; size: number; align: number; index: number }[] = [];
  const perRead = Math.max(1, Math.floor(PHDR_BYTES_PER_READ / table.phentsize));
  for (let first = 0; first < table.count; first += perRead) {
    const n = Math.min(perRead, table.count - first);
    const t = view(await core.read(table.phoff + first * table.phentsize, n * table.phentsize));
    for (let i = 0; i < n; i++) {
      const at = i * table.phentsize;
      const type = t.getUint32(at + P_TYPE, true);
      const offset = offsetField(t, at + ELF64.pOffset);
      if (type === PT_LOAD) {
        const filesz = t.getBigUint64(at + ELF64.pFilesz, true);
        const room = offset > core.size ? 0n : BigInt(core.size - offset);
        const captured = filesz < room ? filesz : room;
        const vaddr = t.getBigUint64(at + ELF64.pVaddr, true);
        loads.push({ vaddr, memsz: t.getBigUint64(at + ELF64.pMemsz, true), captured, offset });
      } else if (type === PT_NOTE) {
        const size = offsetField(t, at + ELF64.pFilesz);
        notes.push({ offset, size, align: offsetField(t, at + ELF64.pAlign), index: first + i });
      }
    }
  }
  loads.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  return { loads, notes };
}

/** The descriptors of the `CORE` notes of types `NT_FILE` and `NT_AUXV` (the first of each). */
async function coreNotes(core: CoreBytes, notes: Awaited<ReturnType<typeof segments>>["notes"], limits: CoreLimits) {
  const found = new Map<number, Uint8Array>();
  let total = 0;
  for (const area of notes) {
    const where = `PT_NOTE program header ${area.index}`;
    if (area.offset > core.size || area.size > core.size - area.offset) {
      fail(core, "TRUNCATED", `${where} at 0x${hex(area.offset)} (0x${hex(area.size)} bytes) runs past the end`);
    }
    total += area.size;
    if (total > limits.maxNoteBytes) fail(core, "LIMIT", `note areas exceed the limit of ${limits.maxNoteBytes} bytes`);
    const bytes = await core.read(area.offset, area.size);
    const v = view(bytes);
    const align = area.align === 8 ? 8 : 4;
    const pad = (n: number) => Math.ceil(n / align) * align;
    for (let at = 0; at < bytes.length; ) {
      if (bytes.length - at < NOTE_HEADER)
        fail(core, "BAD_NOTE", `${where}: ${bytes.length - at} bytes left at ${at}, too few for a note`);
      const namesz = v.getUint32(at, true);
      const descsz = v.getUint32(at + 4, true);
      const type = v.getUint32(at + 8, true);
      const desc = at + pad(NOTE_HEADER + namesz);
      if (desc > bytes.length || descsz > bytes.length - desc) {
        fail(core, "BAD_NOTE", `${where}: the note at ${at} (namesz ${namesz}, descsz ${descsz}) runs past the area`);
      }
      const name = LATIN1.decode(bytes.subarray(at + NOTE_HEADER, at + NOTE_HEADER + namesz));
      if (name === "CORE\0" && (type === NT_FILE || type === NT_AUXV) && !found.has(type)) {
        found.set(type, bytes.slice(desc, desc + descsz));
      }
      at = desc + pad(descsz);
    }
  }
  return found;
}

/** The entries of an `NT_FILE` descriptor: count and page size, `count` (start, end, page offset) triples, `count` NUL-terminated names. */
function fileMappings(core: CoreBytes, desc: Uint8Array, limits: CoreLimits): FileMapping[] {
  const v = view(desc);
  if (desc.length < 16) fail(core, "BAD_NOTE", `the NT_FILE note has ${desc.length} bytes, too few for its header`);
  const count = v.getBigUint64(0, true);
  const pageSize = v.getBigUint64(8, true);
  if (count > BigInt(limits.maxMappings))
    fail(core, "LIMIT", `NT_FILE has ${count} entries, over the limit of ${limits.maxMappings}`);
  const n = Number(count);
  if (16 + n * FILE_ENTRY > desc.length)
    fail(core, "BAD_NOTE", `NT_FILE's ${n} entries run past its ${desc.length} bytes`);
  const mappings: FileMapping[] = [];
  let name = 16 + n * FILE_ENTRY;
  const decoder = new TextDecoder(); // paths as UTF-8, invalid bytes as U+FFFD
  for (let i = 0; i < n; i++) {
    const end = desc.indexOf(0, name);
    if (end < 0) fail(core, "BAD_NOTE", `NT_FILE names ${i} of its ${n} files`);
    const at = 16 + i * FILE_ENTRY;
    const m = {
      start: v.getBigUint64(at, true),
      end: v.getBigUint64(at + 8, true),
      fileOffset: v.getBigUint64(at + 16, true) * pageSize,
      path: decoder.decode(desc.subarray(name, end)),
    };
    if (m.end <= m.start)
      fail(
        core,
        "BAD_NOTE",
        `NT_FILE entry ${i} (${m.path}) ends at 0x${hex(m.end)}, not after its start 0x${hex(m.start)}`,
      );
    mappings.push(m);
    name = end + 1;
  }
  return mappings;
}

/** The vDSO's address from `NT_AUXV` (`AT_SYSINFO_EHDR`), if the core has one. */
function vdsoAddress(auxv: Uint8Array | undefined): bigint | undefined {
  if (auxv === undefined) return undefined;
  const v = view(auxv);
  for (let at = 0; at + 16 <= auxv.length; at += 16) {
    if (v.getBigUint64(at, true) === AT_SYSINFO_EHDR) return v.getBigUint64(at + 8, true);
  }
  return undefined;
}

/** Groups `NT_FILE` entries into images: one starts at each entry at file offset 0, later entries of the same path join it. */
function images(mappings: FileMapping[], vdso: Segment | undefined, vdsoAt: bigint | undefined): Image[] {
  const open = new Map<string, Image>();
  const all: Image[] = [];
  for (const m of mappings) {
    let image = open.get(m.path);
    if (image === undefined || m.fileOffset === 0n) {
      const status = m.fileOffset === 0n ? "not-in-core" : "no-header-mapping";
      image = { module: { path: m.path, start: m.start, end: m.end, status }, mappings: [] };
      open.set(m.path, image);
      all.push(image);
    }
    image.mappings.push(m);
    image.module.end = bigMax(image.module.end, m.end);
  }
  if (vdso !== undefined && vdsoAt !== undefined && !all.some((i) => i.module.start === vdsoAt)) {
    const end = vdso.vaddr + vdso.memsz;
    all.push({
      module: { path: "[vdso]", start: vdsoAt, end, status: "not-in-core" },
      mappings: [{ start: vdsoAt, end, fileOffset: 0n, path: "[vdso]" }],
    });
  }
  for (const image of all)
    image.mappings.sort((a, b) => (a.fileOffset < b.fileOffset ? -1 : a.fileOffset > b.fileOffset ? 1 : 0));
  return all.sort((a, b) => (a.module.start < b.module.start ? -1 : a.module.start > b.module.start ? 1 : 0));
}

/** The segment holding address `v`, if any (`loads` sorted by address). */
function segmentAt(loads: Segment[], v: bigint): Segment | undefined {
  let lo = 0;
  let hi = loads.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = loads[mid]!;
    if (s.vaddr > v) hi = mid - 1;
    else if (v >= s.vaddr + s.memsz) lo = mid + 1;
    else return s;
  }
  return undefined;
}

/** The last of `mappings` (sorted by file offset) that starts at or before file offset `at`, if it holds `at`. */
function mappingAt(mappings: FileMapping[], at: bigint): FileMapping | undefined {
  let lo = 0;
  let hi = mappings.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (mappings[mid]!.fileOffset <= at) lo = mid + 1;
    else hi = mid;
  }
  const m = mappings[lo - 1];
  return m !== undefined && at < m.fileOffset + (m.end - m.start) ? m : undefined;
}

/** The bytes of file range `range` of `image`, gathered from the core; NotCaptured when any of them is not there. */
async function imageBytes(core: CoreBytes, loads: Segment[], image: Image, range: ElfRange): Promise<ElfChunk> {
  const out = new Uint8Array(range.length);
  let done = 0;
  while (done < range.length) {
    const at = BigInt(range.offset + done);
    const m = mappingAt(image.mappings, at);
    if (m === undefined) throw new NotCaptured();
    const address = m.start + (at - m.fileOffset);
    const s = segmentAt(loads, address);
    if (s === undefined || address >= s.vaddr + s.captured) throw new NotCaptured();
    const inSegment = s.vaddr + s.captured - address;
    const inMapping = m.end - address;
    const left = BigInt(range.length - done);
    const n = Number(bigMin(bigMin(inSegment, inMapping), left));
    out.set(await core.read(s.offset + Number(address - s.vaddr), n), done);
    done += n;
  }
  return { view: view(out), at: 0 };
}

/** Fills in `image.module`'s status and build ID from the image's headers in the core. */
async function readImage(
  core: CoreBytes,
  loads: Segment[],
  image: Image,
  options: ReadBuildIdOptions,
  budget: { reads: number },
): Promise<void> {
  const { module } = image;
  if (module.status === "no-header-mapping") return;
  const extent = image.mappings.reduce((n, m) => bigMax(n, m.fileOffset + (m.end - m.start)), 0n);
  const steps = parseBuildId(Number(bigMin(extent, BigInt(Number.MAX_SAFE_INTEGER))), options);
  try {
    let step = steps.next();
    while (!step.done) {
      if (--budget.reads < 0)
        fail(core, "LIMIT", "the mapped files' headers need more reads than the limit of maxImageReads");
      step = steps.next(await imageBytes(core, loads, image, step.value));
    }
    module.status = "found";
    module.buildId = step.value.buildId;
  } catch (error) {
    steps.return(undefined as never);
    if (error instanceof NotCaptured) module.status = "not-in-core";
    else if (!(error instanceof ElfError)) throw error;
    else if (error.code === "NOT_ELF") module.status = "not-elf";
    else if (error.code === "NO_BUILD_ID") module.status = "no-build-id";
    else {
      module.status = "bad-elf";
      module.problem = error.message;
    }
  }
}

/**
 * Lists each file the core dump at `path` maps, with its build ID read from the core's own memory;
 * see the module comment for how. The core is opened through the safe open (regular files only,
 * never blocking) and only its headers, notes and the pages holding each file's headers are read.
 *
 * @throws TypeError when `path` is not a string; {@link CoreFileError} for a file that is not an
 *   ELF64 little-endian core with an `NT_FILE` note, or is malformed; NotRegularFileError and Node's
 *   errors (`ENOENT`, `EACCES`) when it cannot be opened.
 *
 * @example
 * ```ts
 * for (const m of (await readCoreBuildIds("core.1234")).modules) console.log(m.buildId ?? m.status, m.path);
 * ```
 */
export async function readCoreBuildIds(path: string, options: ReadCoreOptions = {}): Promise<CoreReport> {
  string("path", path);
  const limits = checkLimits(options);
  const { handle, stat } = await openRegular(path);
  try {
    const core = new CoreBytes(handle, Number(stat.size), path);
    const table = await programHeaderTable(core, limits);
    const { loads, notes } = await segments(core, table);
    const found = await coreNotes(core, notes, limits);
    const fileNote = found.get(NT_FILE);
    if (fileNote === undefined) fail(core, "NO_FILE_NOTE", "no NT_FILE note, so the core names no mapped files");
    const mappings = fileMappings(core, fileNote, limits);
    const vdsoAt = vdsoAddress(found.get(NT_AUXV));
    const all = images(mappings, vdsoAt === undefined ? undefined : segmentAt(loads, vdsoAt), vdsoAt);
    const budget = { reads: limits.maxImageReads };
    for (const image of all) await readImage(core, loads, image, options.elf ?? {}, budget);
    const modules = all.map((i) => i.module);
    return {
      machine: table.machine,
      segments: table.count,
      extendedNumbering: table.extended,
      mappings: mappings.length,
      modules,
      notInCore: modules.filter((m) => m.status === "not-in-core").length,
    };
  } finally {
    await handle.close();
  }
}
