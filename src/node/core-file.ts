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

/** Bounds on the work and memory of one core read; exceeding one throws a {@link CoreFileError} with code `LIMIT`. */
export interface CoreLimits {
  /** Most program headers (one per mapping; Linux allows `vm.max_map_count`, 65,530 by default). */
  maxSegments: number;
  /** Most bytes of note areas walked, in all. */
  maxNoteBytes: number;
  /** Most `NT_FILE` entries. */
  maxMappings: number;
  /** Most byte ranges read for the mapped files' headers and notes, over all files. */
  maxImageReads: number;
  /**
   * Most bytes of memory the read holds, counted from the core's own counts before anything is
   * allocated: {@link CORE_SEGMENT_BYTES} per program header, the `NT_FILE` and `NT_AUXV` notes'
   * own bytes, and {@link CORE_MAPPING_BYTES} per `NT_FILE` entry (the worst case: every entry a
   * file of its own whose build ID is in the core). A read needs at most this much memory, heap
   * and buffers together, beyond what the process holds before it.
   */
  maxBytes: number;
}

/** What {@link CoreLimits.maxBytes} counts per program header: its `PT_LOAD` and `PT_NOTE` fields in typed arrays, and their sort. */
export const CORE_SEGMENT_BYTES = 128;

/**
 * What {@link CoreLimits.maxBytes} counts per `NT_FILE` entry, beyond the note's bytes: its module,
 * path and build ID as the report holds them, and the index that groups entries into files
 * (measured on a core of 200,000 such files: about 290 bytes an entry held; the read fits an 80 MiB
 * heap, not a 64 MiB one).
 */
export const CORE_MAPPING_BYTES = 512;

/**
 * The limits used when none are given. `maxBytes`, 512 MiB, binds first for large cores: it admits
 * about a million `NT_FILE` entries (`vm.max_map_count` is 65,530 by default), so a core that names
 * more is refused with `LIMIT` before its entries are read, whatever the counts allow.
 */
export const DEFAULT_CORE_LIMITS: Readonly<CoreLimits> = Object.freeze({
  maxSegments: 1 << 22,
  maxNoteBytes: 256 * 1024 * 1024,
  maxMappings: 1 << 22,
  maxImageReads: 1 << 24,
  maxBytes: 512 * 1024 * 1024,
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

/** One file range of a mapped file: `[start, end)` in memory, from `fileOffset` in the file. */
interface FileMapping {
  start: bigint;
  end: bigint;
  fileOffset: bigint;
}

/**
 * The files the core maps, each a run of `NT_FILE` entries read as one ELF image, with no object per
 * entry: module `k`'s entries are `first[k]`, then `next[i]` from each entry `i` until -1.
 */
interface Images {
  modules: CoreModule[];
  first: Int32Array;
  next: Int32Array;
  /** The vDSO's module (found through `NT_AUXV`, not in `NT_FILE`) and its one mapping. */
  vdso?: { module: CoreModule; mapping: FileMapping };
}

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

/** The bytes of memory a read may still take; see {@link CoreLimits.maxBytes}. */
class Budget {
  private left: number;

  constructor(
    private readonly core: CoreBytes,
    private readonly limit: number,
  ) {
    this.left = limit;
  }

  /** Takes `bytes` for `what`, before they are allocated. */
  take(bytes: number, what: string): void {
    if (bytes > this.left)
      fail(
        this.core,
        "LIMIT",
        `${what} need ${bytes} bytes of memory, past the limit of maxBytes (${this.limit} bytes, ${this.left} of them left)`,
      );
    this.left -= bytes;
  }
}

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

// Exact for bigints of any size: fields of the file stay bigints until checked against its size.
function hex(n: number | bigint): string {
  return n.toString(16);
}

function fail(core: CoreBytes, code: CoreFileErrorCode, message: string): never {
  throw new CoreFileError(code, `${core.name}: ${message}`);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
  const size = BigInt(core.size);
  const phoff = h.getBigUint64(ELF64.ePhoff, true);
  const shoff = h.getBigUint64(ELF64.eShoff, true);
  const phentsize = h.getUint16(ELF64.ePhentsize, true);
  let count = h.getUint16(ELF64.ePhnum, true);
  const extended = count === PN_XNUM;
  if (extended) {
    const shentsize = h.getUint16(ELF64.eShentsize, true);
    if (shoff === 0n)
      fail(core, "BAD_HEADER", "e_phnum is PN_XNUM (0xffff) but there is no section header 0 (e_shoff is 0)");
    if (shentsize < ELF64.shdrSize)
      fail(core, "BAD_HEADER", `section headers are ${shentsize} bytes, fewer than ${ELF64.shdrSize}`);
    if (shoff > size - BigInt(ELF64.shdrSize))
      fail(core, "TRUNCATED", `section header 0 at 0x${hex(shoff)} runs past the end`);
    count = view(await core.read(Number(shoff), ELF64.shdrSize)).getUint32(ELF64.shInfo, true);
  }
  if (count > 0 && phentsize < ELF64.phdrSize)
    fail(core, "BAD_HEADER", `program headers are ${phentsize} bytes, fewer than ${ELF64.phdrSize}`);
  if (count > limits.maxSegments)
    fail(core, "LIMIT", `${count} program headers exceed the limit of ${limits.maxSegments}`);
  if (phoff > size || BigInt(count * phentsize) > size - phoff) {
    fail(core, "TRUNCATED", `the program headers at 0x${hex(phoff)} (${count} x ${phentsize} bytes) run past the end`);
  }
  return { machine, phoff: Number(phoff), phentsize, count, extended };
}

/** The core's `PT_LOAD` segments by address, in typed arrays (a core may have millions): `captured[i]` bytes from `vaddr[i]` are in the core at `offset[i]`. */
class Loads {
  constructor(
    readonly vaddr: BigUint64Array,
    readonly memsz: BigUint64Array,
    readonly captured: BigUint64Array,
    readonly offset: Float64Array,
  ) {}

  /** The index of the segment holding address `v`, or -1. */
  at(v: bigint): number {
    let lo = 0;
    let hi = this.vaddr.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vaddr[mid]! > v) hi = mid - 1;
      else if (v >= this.vaddr[mid]! + this.memsz[mid]!) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The same segments sorted by address (the kernel and gdb write them so; others may not). */
  sorted(): Loads {
    const { vaddr } = this;
    let inOrder = true;
    for (let i = 1; i < vaddr.length && inOrder; i++) inOrder = vaddr[i - 1]! <= vaddr[i]!;
    if (inOrder) return this;
    const order = Array.from(vaddr.keys()).sort((a, b) => (vaddr[a]! < vaddr[b]! ? -1 : vaddr[a]! > vaddr[b]! ? 1 : 0));
    const pick = <T extends BigUint64Array | Float64Array>(from: T, to: T): T => {
      order.forEach((i, k) => {
        to[k] = from[i]!;
      });
      return to;
    };
    const n = order.length;
    return new Loads(
      pick(vaddr, new BigUint64Array(n)),
      pick(this.memsz, new BigUint64Array(n)),
      pick(this.captured, new BigUint64Array(n)),
      pick(this.offset, new Float64Array(n)),
    );
  }
}

/** The core's `PT_NOTE` areas, as their program headers give them (checked against the file when walked). */
interface NoteAreas {
  offset: BigUint64Array;
  size: BigUint64Array;
  align8: Uint8Array;
  index: Uint32Array;
  length: number;
}

/** Every `PT_LOAD` (sorted by address, captured bytes cut at the file's end) and `PT_NOTE` of the core. */
async function segments(core: CoreBytes, table: Awaited<ReturnType<typeof programHeaderTable>>) {
  const loads = new Loads(
    new BigUint64Array(table.count),
    new BigUint64Array(table.count),
    new BigUint64Array(table.count),
    new Float64Array(table.count),
  );
  const notes: NoteAreas = {
    offset: new BigUint64Array(table.count),
    size: new BigUint64Array(table.count),
    align8: new Uint8Array(table.count),
    index: new Uint32Array(table.count),
    length: 0,
  };
  let nLoads = 0;
  const size = BigInt(core.size);
  const perRead = Math.max(1, Math.floor(PHDR_BYTES_PER_READ / table.phentsize));
  for (let first = 0; first < table.count; first += perRead) {
    const n = Math.min(perRead, table.count - first);
    const t = view(await core.read(table.phoff + first * table.phentsize, n * table.phentsize));
    for (let i = 0; i < n; i++) {
      const at = i * table.phentsize;
      const type = t.getUint32(at + P_TYPE, true);
      const offset = t.getBigUint64(at + ELF64.pOffset, true);
      if (type === PT_LOAD) {
        const room = offset > size ? 0n : size - offset;
        loads.vaddr[nLoads] = t.getBigUint64(at + ELF64.pVaddr, true);
        loads.memsz[nLoads] = t.getBigUint64(at + ELF64.pMemsz, true);
        loads.captured[nLoads] = bigMin(t.getBigUint64(at + ELF64.pFilesz, true), room);
        loads.offset[nLoads++] = room === 0n ? 0 : Number(offset);
      } else if (type === PT_NOTE) {
        notes.offset[notes.length] = offset;
        notes.size[notes.length] = t.getBigUint64(at + ELF64.pFilesz, true);
        notes.align8[notes.length] = t.getBigUint64(at + ELF64.pAlign, true) === 8n ? 1 : 0;
        notes.index[notes.length++] = first + i;
      }
    }
  }
  const used = new Loads(
    loads.vaddr.subarray(0, nLoads),
    loads.memsz.subarray(0, nLoads),
    loads.captured.subarray(0, nLoads),
    loads.offset.subarray(0, nLoads),
  );
  return { loads: used.sorted(), notes };
}

/** Where a note's descriptor lies in the core. */
interface Descriptor {
  offset: number;
  size: number;
}

/**
 * Where the descriptors of the first `CORE` notes of types `NT_FILE` and `NT_AUXV` lie. The note
 * areas are walked a header at a time, so only the descriptors asked for are ever held.
 */
async function coreNotes(core: CoreBytes, notes: NoteAreas, limits: CoreLimits) {
  const found = new Map<number, Descriptor>();
  const fileSize = BigInt(core.size);
  let total = 0n;
  for (let k = 0; k < notes.length; k++) {
    const where = `PT_NOTE program header ${notes.index[k]}`;
    const offset = notes.offset[k]!;
    const size = notes.size[k]!;
    if (offset > fileSize || size > fileSize - offset) {
      fail(core, "TRUNCATED", `${where} at 0x${hex(offset)} (0x${hex(size)} bytes) runs past the end`);
    }
    total += size;
    if (total > BigInt(limits.maxNoteBytes))
      fail(core, "LIMIT", `note areas exceed the limit of ${limits.maxNoteBytes} bytes`);
    const base = Number(offset);
    const length = Number(size);
    const align = notes.align8[k] ? 8 : 4;
    const pad = (n: number) => Math.ceil(n / align) * align;
    for (let at = 0; at < length; ) {
      if (length - at < NOTE_HEADER)
        fail(core, "BAD_NOTE", `${where}: ${length - at} bytes left at ${at}, too few for a note`);
      const v = view(await core.read(base + at, NOTE_HEADER));
      const namesz = v.getUint32(0, true);
      const descsz = v.getUint32(4, true);
      const type = v.getUint32(8, true);
      const desc = at + pad(NOTE_HEADER + namesz);
      if (desc > length || descsz > length - desc) {
        fail(core, "BAD_NOTE", `${where}: the note at ${at} (namesz ${namesz}, descsz ${descsz}) runs past the area`);
      }
      if (namesz === 5 && (type === NT_FILE || type === NT_AUXV) && !found.has(type)) {
        const name = LATIN1.decode(await core.read(base + at + NOTE_HEADER, namesz));
        if (name === "CORE\0") found.set(type, { offset: base + desc, size: descsz });
      }
      at = desc + pad(descsz);
    }
  }
  return found;
}

/** An `NT_FILE` descriptor read in place: count and page size, `count` (start, end, page offset) triples, `count` NUL-terminated paths. */
class FileNote {
  private readonly v: DataView;
  private readonly decoder = new TextDecoder(); // paths as UTF-8, invalid bytes as U+FFFD

  /** @param nameAt where each path starts, and one past the last path's NUL */
  constructor(
    private readonly bytes: Uint8Array,
    readonly count: number,
    private readonly pageSize: bigint,
    private readonly nameAt: Uint32Array,
  ) {
    this.v = view(bytes);
  }

  start(i: number): bigint {
    return this.v.getBigUint64(16 + i * FILE_ENTRY, true);
  }

  end(i: number): bigint {
    return this.v.getBigUint64(16 + i * FILE_ENTRY + 8, true);
  }

  fileOffset(i: number): bigint {
    return this.v.getBigUint64(16 + i * FILE_ENTRY + 16, true) * this.pageSize;
  }

  path(i: number): string {
    return this.decoder.decode(this.bytes.subarray(this.nameAt[i], this.nameAt[i + 1]! - 1));
  }

  mapping(i: number): FileMapping {
    return { start: this.start(i), end: this.end(i), fileOffset: this.fileOffset(i) };
  }
}

/** The `NT_FILE` note at `at`: its count checked against the note's size and the limits before its bytes are read. */
async function fileNote(core: CoreBytes, at: Descriptor, limits: CoreLimits, budget: Budget): Promise<FileNote> {
  if (at.size < 16) fail(core, "BAD_NOTE", `the NT_FILE note has ${at.size} bytes, too few for its header`);
  const head = view(await core.read(at.offset, 16));
  const count = head.getBigUint64(0, true);
  const pageSize = head.getBigUint64(8, true);
  if (count > BigInt(limits.maxMappings))
    fail(core, "LIMIT", `NT_FILE has ${count} entries, over the limit of ${limits.maxMappings}`);
  const n = Number(count);
  if (16 + n * FILE_ENTRY > at.size) fail(core, "BAD_NOTE", `NT_FILE's ${n} entries run past its ${at.size} bytes`);
  budget.take(at.size + n * CORE_MAPPING_BYTES, `NT_FILE's ${n} entries (a ${at.size}-byte note)`);
  const bytes = await core.read(at.offset, at.size);
  const nameAt = new Uint32Array(n + 1);
  nameAt[0] = 16 + n * FILE_ENTRY;
  for (let i = 0; i < n; i++) {
    const end = bytes.indexOf(0, nameAt[i]);
    if (end < 0) fail(core, "BAD_NOTE", `NT_FILE names ${i} of its ${n} files`);
    nameAt[i + 1] = end + 1;
  }
  const note = new FileNote(bytes, n, pageSize, nameAt);
  for (let i = 0; i < n; i++) {
    if (note.end(i) <= note.start(i))
      fail(
        core,
        "BAD_NOTE",
        `NT_FILE entry ${i} (${note.path(i)}) ends at 0x${hex(note.end(i))}, not after its start 0x${hex(note.start(i))}`,
      );
  }
  return note;
}

/** The vDSO's address from `NT_AUXV` (`AT_SYSINFO_EHDR`), if the core has one. */
async function vdsoAddress(core: CoreBytes, at: Descriptor | undefined, budget: Budget): Promise<bigint | undefined> {
  if (at === undefined) return undefined;
  budget.take(at.size, `the ${at.size}-byte NT_AUXV note`);
  const v = view(await core.read(at.offset, at.size));
  for (let i = 0; i + 16 <= at.size; i += 16) {
    if (v.getBigUint64(i, true) === AT_SYSINFO_EHDR) return v.getBigUint64(i + 8, true);
  }
  return undefined;
}

/** Groups `NT_FILE` entries into images: one starts at each entry at file offset 0, later entries of the same path join it. */
function images(note: FileNote, loads: Loads, vdsoAt: bigint | undefined): Images {
  const open = new Map<string, number>();
  const modules: CoreModule[] = [];
  const first = new Int32Array(note.count);
  const last = new Int32Array(note.count);
  const next = new Int32Array(note.count).fill(-1);
  for (let i = 0; i < note.count; i++) {
    const path = note.path(i);
    const atZero = note.fileOffset(i) === 0n;
    let k = open.get(path);
    if (k === undefined || atZero) {
      k = modules.length;
      const status = atZero ? "not-in-core" : "no-header-mapping";
      modules.push({ path, start: note.start(i), end: note.end(i), status });
      open.set(path, k);
      first[k] = i;
    } else next[last[k]!] = i;
    last[k] = i;
    modules[k]!.end = bigMax(modules[k]!.end, note.end(i));
  }
  const found: Images = { modules, first, next };
  const s = vdsoAt === undefined ? -1 : loads.at(vdsoAt);
  if (vdsoAt !== undefined && s >= 0 && !modules.some((m) => m.start === vdsoAt)) {
    const end = loads.vaddr[s]! + loads.memsz[s]!;
    found.vdso = {
      module: { path: "[vdso]", start: vdsoAt, end, status: "not-in-core" },
      mapping: { start: vdsoAt, end, fileOffset: 0n },
    };
  }
  return found;
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

/** Whether the byte at address `address` is in the core. */
function captured(loads: Loads, address: bigint): boolean {
  const s = loads.at(address);
  return s >= 0 && address < loads.vaddr[s]! + loads.captured[s]!;
}

/** The bytes of file range `range` of an image, gathered from the core; `undefined` when any of them is not there. */
async function imageBytes(
  core: CoreBytes,
  loads: Loads,
  mappings: FileMapping[],
  range: ElfRange,
): Promise<ElfChunk | undefined> {
  let out: Uint8Array | undefined;
  let done = 0;
  while (done < range.length) {
    const at = BigInt(range.offset + done);
    const m = mappingAt(mappings, at);
    if (m === undefined) return undefined;
    const address = m.start + (at - m.fileOffset);
    const s = loads.at(address);
    if (s < 0 || address >= loads.vaddr[s]! + loads.captured[s]!) return undefined;
    const inSegment = loads.vaddr[s]! + loads.captured[s]! - address;
    const inMapping = m.end - address;
    const left = BigInt(range.length - done);
    const n = Number(bigMin(bigMin(inSegment, inMapping), left));
    const piece = await core.read(loads.offset[s]! + Number(address - loads.vaddr[s]!), n);
    if (n === range.length) return { view: view(piece), at: 0 }; // one piece: no copy
    out ??= new Uint8Array(range.length);
    out.set(piece, done);
    done += n;
  }
  return { view: view(out ?? new Uint8Array(0)), at: 0 };
}

/** Fills in `module`'s status and build ID from its headers in the core, read through `mappings`. */
async function readImage(
  core: CoreBytes,
  loads: Loads,
  module: CoreModule,
  mappings: () => FileMapping[],
  options: ReadBuildIdOptions,
  budget: { reads: number },
): Promise<void> {
  if (module.status === "no-header-mapping" || !captured(loads, module.start)) return;
  const ranges = mappings().sort((a, b) => (a.fileOffset < b.fileOffset ? -1 : a.fileOffset > b.fileOffset ? 1 : 0));
  const extent = ranges.reduce((n, m) => bigMax(n, m.fileOffset + (m.end - m.start)), 0n);
  const steps = parseBuildId(Number(bigMin(extent, BigInt(Number.MAX_SAFE_INTEGER))), options);
  try {
    let step = steps.next();
    while (!step.done) {
      if (--budget.reads < 0)
        fail(core, "LIMIT", "the mapped files' headers need more reads than the limit of maxImageReads");
      const bytes = await imageBytes(core, loads, ranges, step.value);
      if (bytes === undefined) {
        steps.return(undefined as never);
        return;
      }
      step = steps.next(bytes);
    }
    module.status = "found";
    module.buildId = step.value.buildId;
  } catch (error) {
    steps.return(undefined as never);
    if (!(error instanceof ElfError)) throw error;
    if (error.code === "NOT_ELF") module.status = "not-elf";
    else if (error.code === "NO_BUILD_ID") module.status = "no-build-id";
    else {
      module.status = "bad-elf";
      module.problem = error.message;
    }
  }
}

/** Every module of `found` read, sorted by start address. */
async function readImages(
  core: CoreBytes,
  loads: Loads,
  note: FileNote,
  found: Images,
  options: ReadCoreOptions,
  limits: CoreLimits,
): Promise<CoreModule[]> {
  const budget = { reads: limits.maxImageReads };
  const chain = (k: number) => () => {
    const ranges: FileMapping[] = [];
    for (let i = found.first[k]!; i >= 0; i = found.next[i]!) ranges.push(note.mapping(i));
    return ranges;
  };
  const byStart = (a: CoreModule, b: CoreModule) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);
  const order = Array.from(found.modules.keys()).sort((a, b) => byStart(found.modules[a]!, found.modules[b]!));
  for (const k of order) await readImage(core, loads, found.modules[k]!, chain(k), options.elf ?? {}, budget);
  const modules = order.map((k) => found.modules[k]!);
  if (found.vdso !== undefined) {
    const { module, mapping } = found.vdso;
    await readImage(core, loads, module, () => [mapping], options.elf ?? {}, budget);
    modules.push(module);
    modules.sort(byStart);
  }
  return modules;
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
    const memory = new Budget(core, limits.maxBytes);
    const table = await programHeaderTable(core, limits);
    memory.take(table.count * CORE_SEGMENT_BYTES, `${table.count} program headers`);
    const { loads, notes } = await segments(core, table);
    const found = await coreNotes(core, notes, limits);
    const fileAt = found.get(NT_FILE);
    if (fileAt === undefined) fail(core, "NO_FILE_NOTE", "no NT_FILE note, so the core names no mapped files");
    const note = await fileNote(core, fileAt, limits, memory);
    const grouped = images(note, loads, await vdsoAddress(core, found.get(NT_AUXV), memory));
    const modules = await readImages(core, loads, note, grouped, options, limits);
    return {
      machine: table.machine,
      segments: table.count,
      extendedNumbering: table.extended,
      mappings: note.count,
      modules,
      notInCore: modules.filter((m) => m.status === "not-in-core").length,
    };
  } finally {
    await handle.close();
  }
}
