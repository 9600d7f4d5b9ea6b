/**
 * The source files a debuginfo file's DWARF names, read as elfutils' debuginfod reads them
 * (`dwarf_extract_source_paths` over libdw's `dwarf_getsrcfiles`): for each unit of `.debug_info`
 * whose first DIE is a `DW_TAG_compile_unit`, the file table of its line-number program header
 * (DWARF 2 to 5) at `DW_AT_stmt_list`, each name joined to its directory and then to the unit's
 * compilation directory. Only headers are read: the first DIE of each unit, the abbreviation it
 * uses, each line table's header, and the strings they point at; never a line program.
 *
 * Every offset is checked against the bytes that hold it, and the work one file may cost is bounded
 * by {@link DwarfLimits}. A unit elfutils could not read either (a bad header, a directory index past
 * the table, a string it cannot resolve) is skipped with its reason; a bound passed or a section
 * that cannot be inflated is a {@link DwarfError}.
 *
 * @packageDocumentation
 */
import { integer } from "../../check.js";
import {
  DEFAULT_DWARF_LIMITS,
  type DebugSection,
  DwarfError,
  type DwarfLimits,
  debugSection,
} from "./debug-sections.js";
import { Cursor, DIR_INDEX_FORMS, F, LINE_FORMS, Malformed, readForm, type Shape, STRX_FORMS } from "./dwarf-forms.js";
import { type ElfLayout, type ReadAt, readElfLayout } from "./sections.js";

export { DEFAULT_DWARF_LIMITS, DwarfError, type DwarfErrorCode, type DwarfLimits } from "./debug-sections.js";

/** A path of this many bytes or more cannot be opened (`PATH_MAX` counts the NUL); strings are read up to it. */
export const PATH_MAX = 4096;

/** One entry of a line table's file list. */
export interface LineTableFile {
  /** The name as the table gives it. */
  name: string;
  /** Index into the table's directories (DWARF 5), or into the implicit compilation directory and then the table's (DWARF 2-4). */
  directory: number;
  /** `DW_LNCT_MD5` of the file, as lowercase hex, when the table gives one. */
  md5?: string;
}

/** A line-number program header's directory and file lists, as the table holds them. */
export interface LineTable {
  /** Offset of the table in `.debug_line`. */
  offset: number;
  /** Line table version, 2 to 5. */
  version: number;
  /** The directories: from index 0 in DWARF 5, from index 1 before (0 is the unit's compilation directory). */
  directories: string[];
  /** The files: from index 0 in DWARF 5, from index 1 before. */
  files: LineTableFile[];
}

/** One unit of `.debug_info`, as far as it was read. */
export interface DwarfUnit {
  /** Offset of the unit header in `.debug_info`. */
  offset: number;
  /** Unit version, 2 to 5. */
  version: number;
  /** `DW_UT_*` (DWARF 5; 1, `DW_UT_compile`, before). */
  unitType: number;
  /** Tag of the first DIE (0 when it is a null entry or was not read). */
  tag: number;
  /** `DW_AT_name` of a compile unit, `null` when it has one that cannot be resolved. */
  name?: string | null;
  /** `DW_AT_comp_dir` of a compile unit, `null` when it has one that cannot be resolved. */
  compDir?: string | null;
  /** Its line table, when it has `DW_AT_stmt_list` and the table could be read. */
  lines?: LineTable;
  /** Why the unit yields no source names, when elfutils would also read none from it. */
  problem?: string;
}

/** Options for {@link readSourceNames} and {@link readDwarfUnits}. */
export interface DwarfReadOptions {
  /** Overrides some of {@link DEFAULT_DWARF_LIMITS}. */
  limits?: Partial<DwarfLimits>;
  /** The file's layout, when the caller has read it already. */
  layout?: ElfLayout;
}

/** A unit that yielded no names, and why. */
export interface UnitProblem {
  /** Offset of the unit in `.debug_info`. */
  unit: number;
  /** What was wrong. */
  reason: string;
}

/** What {@link readSourceNames} found. */
export interface SourceNames {
  /**
   * Each absolute source path the DWARF names, once, in the order first met, as elfutils' debuginfod
   * forms it before canonicalising; with the `DW_LNCT_MD5` digests DWARF 5 tables give for it (empty when none do).
   */
  sources: Map<string, readonly string[]>;
  /** Units read. */
  units: number;
  /** Compile units with a line table whose names were taken. */
  compileUnits: number;
  /** How many units yielded nothing for a reason ({@link UnitProblem}). */
  problemCount: number;
  /** The first {@link MAX_PROBLEMS_KEPT} of those. */
  problems: UnitProblem[];
}

/** How many {@link UnitProblem}s {@link readSourceNames} keeps (it counts them all). */
export const MAX_PROBLEMS_KEPT = 100;

const DW_TAG_compile_unit = 0x11;
const DW_AT_name = 0x03;
const DW_AT_stmt_list = 0x10;
const DW_AT_comp_dir = 0x1b;
const DW_AT_str_offsets_base = 0x72;
const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;
const DW_LNCT_MD5 = 5;
const DW_UT = { compile: 1, type: 2, partial: 3, skeleton: 4, split_compile: 5, split_type: 6 } as const;

/** The first DIE of a unit is read from a window of this many bytes at most. */
const FIRST_DIE_WINDOW = 64 << 10;

/** A string-valued attribute: an inline string's bytes, or the form and the offset or index it holds. */
type StringValue = Uint8Array | { form: number; value: number };

const utf8 = new TextDecoder();

/** One abbreviation: the tag and attribute specs of the DIEs that use its code. */
interface Abbrev {
  tag: number;
  specs: { at: number; form: number; implicit: number }[];
}

/** The file's sections, each opened on first use. */
class Sections {
  private readonly opened = new Map<string, DebugSection | undefined>();
  private abbrevScanned = 0;
  private readonly abbrevs = new Map<string, Abbrev | undefined>();
  constructor(
    private readonly read: ReadAt,
    private readonly size: number,
    readonly layout: ElfLayout,
    readonly limits: DwarfLimits,
  ) {}

  /** The section `name`, opened on first use; `whole` reads a plain one into memory at once. */
  get(name: string, whole = false): DebugSection | undefined {
    if (!this.opened.has(name))
      this.opened.set(name, debugSection(this.read, this.size, this.layout, name, this.limits.maxSectionBytes, whole));
    return this.opened.get(name);
  }

  /** The string at `offset` of a string section, cut at {@link PATH_MAX} bytes; `null` when there is none. */
  cstring(name: string, offset: number): string | null {
    const s = this.get(name);
    if (!s || offset < 0 || offset >= s.size) return null;
    const bytes = s.bytes(offset, Math.min(PATH_MAX, s.size - offset));
    const end = bytes.indexOf(0);
    if (end < 0 && offset + bytes.length === s.size) return null;
    return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
  }

  /** The abbreviation `code` of the table at `offset` in `.debug_abbrev`; tables are walked under a budget of four passes over the section. */
  abbrev(offset: number, code: number): Abbrev | undefined {
    const key = `${offset}:${code}`;
    if (this.abbrevs.has(key)) return this.abbrevs.get(key);
    const section = this.get(".debug_abbrev", true);
    if (!section) throw new Malformed("no .debug_abbrev");
    if (offset >= section.size)
      throw new Malformed(`abbreviations at 0x${offset.toString(16)} lie past .debug_abbrev's ${section.size} bytes`);
    const c = new Cursor(section.bytes(offset, section.size - offset), this.layout.littleEndian);
    const budget = 4 * section.size + (1 << 20);
    let found: Abbrev | undefined;
    try {
      for (;;) {
        const at = c.pos;
        const entry = c.uleb();
        if (entry === 0) break;
        const tag = c.uleb();
        c.u8();
        const specs: Abbrev["specs"] = [];
        for (;;) {
          const name = c.uleb();
          const form = c.uleb();
          if (name === 0 && form === 0) break;
          specs.push({ at: name, form, implicit: form === F.implicit_const ? c.sleb() : 0 });
        }
        this.abbrevScanned += c.pos - at;
        if (this.abbrevScanned > budget)
          throw new DwarfError("LIMIT", `abbreviation tables walked past ${budget} bytes, four times .debug_abbrev`);
        if (entry === code) {
          found = { tag, specs };
          break;
        }
      }
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
    }
    this.abbrevs.set(key, found);
    return found;
  }
}

/** The attributes of a unit's first DIE that name its sources. */
interface UnitDie {
  tag: number;
  name?: StringValue;
  compDir?: StringValue;
  stmtList?: number;
  strOffsetsBase?: number;
}

function readFirstDie(s: Sections, c: Cursor, u: Shape, abbrevOffset: number): UnitDie {
  const code = c.uleb();
  if (code === 0) return { tag: 0 };
  const abbrev = s.abbrev(abbrevOffset, code);
  if (!abbrev) throw new Malformed(`abbreviation ${code} is not in the table at 0x${abbrevOffset.toString(16)}`);
  const die: UnitDie = { tag: abbrev.tag };
  for (const { at, form, implicit } of abbrev.specs) {
    const value = readForm(c, form, u, implicit);
    if (value === undefined) continue;
    if (at === DW_AT_name || at === DW_AT_comp_dir) {
      const v: StringValue = value instanceof Uint8Array ? value : { form, value };
      if (at === DW_AT_name) die.name ??= v;
      else die.compDir ??= v;
    } else if (typeof value === "number" && at === DW_AT_stmt_list) die.stmtList ??= value;
    else if (typeof value === "number" && at === DW_AT_str_offsets_base) die.strOffsetsBase ??= value;
  }
  return die;
}

/** A string attribute's text, as libdw's `dwarf_formstring` resolves it; `null` when it cannot (a supplementary file's string, a bad offset, not a string form). */
function resolveString(s: Sections, v: StringValue, u: Shape, strOffsetsBase: number): string | null {
  if (v instanceof Uint8Array) return utf8.decode(v.subarray(0, PATH_MAX));
  if (v.form === F.strp) return s.cstring(".debug_str", v.value);
  if (v.form === F.line_strp) return s.cstring(".debug_line_str", v.value);
  if (!STRX_FORMS.has(v.form)) return null;
  const offsets = s.get(".debug_str_offsets");
  const at = strOffsetsBase + v.value * u.offsetSize;
  if (!offsets || at + u.offsetSize > offsets.size) return null;
  return s.cstring(".debug_str", new Cursor(offsets.bytes(at, u.offsetSize), s.layout.littleEndian).uint(u.offsetSize));
}

/** A DWARF 5 entry format: the forms of each field, and which fields hold the path, directory index and MD5. */
interface EntryFormat {
  forms: number[];
  path: number;
  dir: number;
  md5: number;
}

function readEntryFormat(c: Cursor, what: string): EntryFormat {
  const count = c.u8();
  const format: EntryFormat = { forms: [], path: -1, dir: -1, md5: -1 };
  for (let i = 0; i < count; i++) {
    const type = c.uleb();
    const form = c.uleb();
    if (!LINE_FORMS.has(form)) throw new Malformed(`${what} format uses form 0x${form.toString(16)}`);
    format.forms.push(form);
    if (type === DW_LNCT_path) format.path = i;
    else if (type === DW_LNCT_directory_index) format.dir = i;
    else if (type === DW_LNCT_MD5 && form === F.data16) format.md5 = i;
  }
  return format;
}

function entryCount(c: Cursor, format: EntryFormat, what: string, limits: DwarfLimits): number {
  const count = c.uleb();
  if (format.forms.length === 0 && count !== 0) throw new Malformed(`${count} ${what} entries with no fields`);
  if (format.forms.length !== 0 && count > c.left / format.forms.length)
    throw new Malformed(`${count} ${what} entries cannot fit in the ${c.left} bytes left of the header`);
  if (count > limits.maxFilesPerUnit)
    throw new DwarfError(
      "LIMIT",
      `a line table lists ${count} ${what} entries, more than the limit of ${limits.maxFilesPerUnit}`,
    );
  return count;
}

interface Entry {
  path: string | null;
  dir: number;
  md5?: string;
}

function readEntry(s: Sections, c: Cursor, format: EntryFormat, u: Shape): Entry {
  const entry: Entry = { path: null, dir: -1 };
  format.forms.forEach((form, i) => {
    if (i === format.md5) {
      c.need(16, "an MD5");
      entry.md5 = Buffer.from(c.bytes.subarray(c.pos, c.pos + 16)).toString("hex");
    }
    const value = readForm(c, form, u, 0);
    if (i === format.path) {
      entry.path =
        value === undefined ? null : resolveString(s, value instanceof Uint8Array ? value : { form, value }, u, 0);
    } else if (i === format.dir) {
      entry.dir = DIR_INDEX_FORMS.has(form) && typeof value === "number" && value >= 0 ? value : -1;
    }
  });
  return entry;
}

/** Reads the line-table header at `offset` of `.debug_line`, as libdw's `read_srclines` checks it. */
function readLineTable(s: Sections, offset: number, addressSize: number, counted: { entries: number }): LineTable {
  const section = s.get(".debug_line");
  if (!section) throw new Malformed("no .debug_line");
  if (offset >= section.size)
    throw new Malformed(`DW_AT_stmt_list 0x${offset.toString(16)} lies past .debug_line's ${section.size} bytes`);
  const le = s.layout.littleEndian;
  const head = new Cursor(section.bytes(offset, Math.min(section.size - offset, 24)), le);
  let length = head.u32();
  let offsetSize: 4 | 8 = 4;
  if (length === 0xffffffff) {
    length = head.u64();
    offsetSize = 8;
  }
  const unitEnd = offset + head.pos + length;
  if (length > section.size - offset - head.pos)
    throw new Malformed(`the line table at 0x${offset.toString(16)} runs past .debug_line`);
  const version = head.u16();
  if (version < 2 || version > 5) throw new Malformed(`line table version ${version}`);
  if (version >= 5) {
    const lineAddressSize = head.u8();
    const segmentSize = head.u8();
    if (lineAddressSize !== addressSize || segmentSize !== 0)
      throw new Malformed(
        `line table address size ${lineAddressSize} (unit: ${addressSize}), segment selector size ${segmentSize}`,
      );
  }
  const headerLength = head.uint(offsetSize);
  const headerStart = offset + head.pos;
  if (headerLength > unitEnd - headerStart)
    throw new Malformed(`header_length ${headerLength} runs past the table's ${length} bytes`);
  if (headerLength > s.limits.maxSectionBytes)
    throw new DwarfError(
      "LIMIT",
      `a line table header of ${headerLength} bytes, more than the limit of ${s.limits.maxSectionBytes}`,
    );
  // Fields that run past header_length are caught there: libdw reads on to the table's end, then refuses them as inconsistent.
  const c = new Cursor(section.bytes(headerStart, headerLength), le);
  const headerEnd = headerLength;
  c.u8();
  if (version >= 4 && c.u8() === 0) throw new Malformed("maximum_operations_per_instruction is 0");
  c.skip(3, "the header");
  const opcodeBase = c.u8();
  c.skip(Math.max(opcodeBase - 1, 0), "standard_opcode_lengths");
  const u: Shape = { version: 5, offsetSize, addressSize };
  const table: LineTable = { offset, version, directories: [], files: [] };
  const limits = s.limits;
  const count = (n: number) => {
    counted.entries += n;
    if (counted.entries > limits.maxFileEntries)
      throw new DwarfError("LIMIT", `line tables list more than ${limits.maxFileEntries} entries in all`);
  };
  if (version < 5) {
    for (let p = c.cstring("a directory"); p.length > 0; p = c.cstring("a directory")) {
      table.directories.push(utf8.decode(p.subarray(0, PATH_MAX)));
      if (table.directories.length > limits.maxFilesPerUnit)
        throw new DwarfError("LIMIT", `a line table lists more than ${limits.maxFilesPerUnit} directories`);
      count(1);
    }
    for (let p = c.cstring("a file name"); p.length > 0; p = c.cstring("a file name")) {
      const directory = c.uleb();
      if (directory > table.directories.length)
        throw new Malformed(
          `file ${table.files.length + 1} names directory ${directory} of ${table.directories.length + 1}`,
        );
      c.uleb();
      c.uleb();
      table.files.push({ name: utf8.decode(p.subarray(0, PATH_MAX)), directory });
      if (table.files.length > limits.maxFilesPerUnit)
        throw new DwarfError("LIMIT", `a line table lists more than ${limits.maxFilesPerUnit} files`);
      count(1);
    }
  } else {
    const dirFormat = readEntryFormat(c, "the directory");
    if (dirFormat.forms.length > 0 && dirFormat.path < 0)
      throw new Malformed("the directory format has no DW_LNCT_path");
    const dirs = entryCount(c, dirFormat, "directory", limits);
    count(dirs);
    for (let i = 0; i < dirs; i++) {
      const { path } = readEntry(s, c, dirFormat, u);
      if (path === null) throw new Malformed(`directory ${i}'s path cannot be read`);
      table.directories.push(path);
    }
    const fileFormat = readEntryFormat(c, "the file name");
    if (fileFormat.forms.length > 0 && (fileFormat.path < 0 || fileFormat.dir < 0))
      throw new Malformed("the file name format lacks DW_LNCT_path or DW_LNCT_directory_index");
    const files = entryCount(c, fileFormat, "file name", limits);
    count(files);
    for (let i = 0; i < files; i++) {
      const { path, dir, md5 } = readEntry(s, c, fileFormat, u);
      if (path === null || dir < 0) throw new Malformed(`file ${i}'s path or directory index cannot be read`);
      if (dir >= dirs) throw new Malformed(`file ${i} names directory ${dir} of ${dirs}`);
      table.files.push(md5 === undefined ? { name: path, directory: dir } : { name: path, directory: dir, md5 });
    }
  }
  if (c.pos !== headerEnd && c.pos !== headerEnd - 4)
    throw new Malformed(`the header's fields end at ${c.pos}, not at header_length ${headerLength}`);
  return table;
}

/** A unit's header: where it ends, its shape, and where its first DIE starts; `problem` when its fields cannot be read, though its length can. */
interface UnitHeader {
  end: number;
  shape: Shape;
  unitType: number;
  abbrev: number;
  die: number;
  problem?: string;
}

/** Reads the unit header at `offset`. @throws Malformed when its length cannot be trusted. */
function unitHeader(info: DebugSection, offset: number, le: boolean): UnitHeader {
  const c = new Cursor(info.bytes(offset, Math.min(info.size - offset, 48)), le);
  let length = c.u32();
  let offsetSize: 4 | 8 = 4;
  if (length === 0xffffffff) {
    length = c.u64();
    offsetSize = 8;
  } else if (length >= 0xfffffff0) throw new Malformed(`unit length 0x${length.toString(16)} is reserved`);
  if (length > info.size - offset - c.pos)
    throw new Malformed(`a unit of ${length} bytes runs past .debug_info's ${info.size}`);
  const end = offset + c.pos + length;
  const version = c.u16();
  const unknown = (problem: string): UnitHeader => ({
    end,
    shape: { version, offsetSize, addressSize: 0 },
    unitType: 0,
    abbrev: 0,
    die: end,
    problem,
  });
  if (version < 2 || version > 5) return unknown(`unit version ${version}`);
  let unitType: number = DW_UT.compile;
  let addressSize: number;
  let abbrev: number;
  if (version >= 5) {
    unitType = c.u8();
    addressSize = c.u8();
    abbrev = c.uint(offsetSize);
    if (unitType === DW_UT.skeleton || unitType === DW_UT.split_compile) c.skip(8, "dwo_id");
    else if (unitType === DW_UT.type || unitType === DW_UT.split_type)
      c.skip(8 + offsetSize, "the type signature and offset");
    else if (unitType !== DW_UT.compile && unitType !== DW_UT.partial)
      return { ...unknown(`unit type ${unitType}`), unitType };
  } else {
    abbrev = c.uint(offsetSize);
    addressSize = c.u8();
  }
  return { end, shape: { version, offsetSize, addressSize }, unitType, abbrev, die: offset + c.pos };
}

function limitsOf(options: DwarfReadOptions): DwarfLimits {
  const limits = { ...DEFAULT_DWARF_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) integer(`limits.${name}`, value, 0);
  return limits;
}

/**
 * Each unit of a file's `.debug_info`, with the first DIE's name and compilation directory and the
 * line table it points at, for a file of `size` bytes read through `read`. Nothing when the file has
 * no `.debug_info`. A unit that cannot be read carries its `problem`; a unit whose length cannot be
 * trusted (past the section, or reserved) ends the walk, as a broken header ends libdw's.
 * @throws {@link ElfError} for malformed ELF headers; {@link DwarfError} for a section that cannot be
 *   inflated or a bound of {@link DwarfLimits} passed; `RangeError` for a bad limit.
 */
export function* readDwarfUnits(read: ReadAt, size: number, options: DwarfReadOptions = {}): Generator<DwarfUnit> {
  const limits = limitsOf(options);
  const s = new Sections(read, size, options.layout ?? readElfLayout(read, size), limits);
  const info = s.get(".debug_info");
  if (!info) return;
  const le = s.layout.littleEndian;
  const counted = { entries: 0 };
  let units = 0;
  for (let offset = 0; offset < info.size; ) {
    if (++units > limits.maxUnits)
      throw new DwarfError("LIMIT", `.debug_info holds more than ${limits.maxUnits} units`);
    let h: UnitHeader;
    try {
      h = unitHeader(info, offset, le);
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      yield { offset, version: 0, unitType: 0, tag: 0, problem: error.message };
      return;
    }
    const unit: DwarfUnit = { offset, version: h.shape.version, unitType: h.unitType, tag: 0 };
    try {
      if (h.problem !== undefined) throw new Malformed(h.problem);
      const window = new Cursor(info.bytes(h.die, Math.min(h.end - h.die, FIRST_DIE_WINDOW)), le);
      const die = readFirstDie(s, window, h.shape, h.abbrev);
      unit.tag = die.tag;
      if (die.tag === DW_TAG_compile_unit) {
        const base = die.strOffsetsBase ?? (h.shape.version >= 5 ? 2 * h.shape.offsetSize : 0);
        if (die.name !== undefined) unit.name = resolveString(s, die.name, h.shape, base);
        if (die.compDir !== undefined) unit.compDir = resolveString(s, die.compDir, h.shape, base);
        if (die.stmtList === undefined) unit.problem = "no DW_AT_stmt_list";
        else unit.lines = readLineTable(s, die.stmtList, h.shape.addressSize, counted);
      }
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      unit.problem = error.message;
    }
    yield unit;
    offset = h.end;
  }
}

/**
 * The source paths a compile unit's line table names, as elfutils' debuginfod forms them: each file
 * joined to its directory unless absolute, then to the compilation directory unless absolute;
 * `<built-in>` left out; nothing when the unit has no compilation directory and a relative name. The
 * compilation directory is the line table's directory 0 in DWARF 5 and the unit's `DW_AT_comp_dir`
 * before (a relative one gives relative paths, as in elfutils; no root holds them).
 *
 * One difference: a DWARF 5 table's file 0 is named too. elfutils 0.188 starts at index 1 for every
 * version, which for gcc loses nothing (its file 1 repeats file 0) but for clang loses each unit's
 * primary source file, the one `list` asks for first. Paths that cannot be opened (`PATH_MAX` bytes
 * or longer, or bytes that are not UTF-8) are left out.
 */
export function unitSourcePaths(unit: DwarfUnit): { path: string; md5?: string }[] {
  const table = unit.lines;
  if (unit.tag !== DW_TAG_compile_unit || !table) return [];
  const v5 = table.version >= 5;
  const dirs = v5 ? table.directories : [unit.compDir ?? null, ...table.directories];
  const compDir = dirs[0] ?? "";
  const cuName = unit.name ?? "unknown";
  if (compDir === "" && !cuName.startsWith("/")) return [];
  const out: { path: string; md5?: string }[] = [];
  for (const file of table.files) {
    const dir = dirs[file.directory] ?? null;
    const hat = file.name.startsWith("/") || dir === null ? file.name : `${dir}/${file.name}`;
    if (hat === "<built-in>") continue;
    if (!hat.startsWith("/") && compDir === "") continue;
    const path = hat.startsWith("/") ? hat : `${compDir}/${hat}`;
    if (path.includes("\ufffd") || Buffer.byteLength(path) >= PATH_MAX) continue;
    out.push(file.md5 === undefined ? { path } : { path, md5: file.md5 });
  }
  return out;
}

/**
 * The source paths a debuginfo file's DWARF names (see {@link unitSourcePaths}), for a file of `size`
 * bytes read through `read`.
 * @throws as {@link readDwarfUnits}, and {@link DwarfError} `LIMIT` past `maxNames` distinct paths.
 */
export function readSourceNames(read: ReadAt, size: number, options: DwarfReadOptions = {}): SourceNames {
  const limits = limitsOf(options);
  const found: SourceNames = { sources: new Map(), units: 0, compileUnits: 0, problemCount: 0, problems: [] };
  const sources = found.sources as Map<string, string[]>;
  for (const unit of readDwarfUnits(read, size, { ...options, limits })) {
    found.units++;
    if (unit.problem !== undefined) {
      found.problemCount++;
      if (found.problems.length < MAX_PROBLEMS_KEPT) found.problems.push({ unit: unit.offset, reason: unit.problem });
      continue;
    }
    if (unit.tag === DW_TAG_compile_unit && unit.lines) found.compileUnits++;
    for (const { path, md5 } of unitSourcePaths(unit)) {
      let digests = sources.get(path);
      if (!digests) {
        if (sources.size >= limits.maxNames)
          throw new DwarfError("LIMIT", `the DWARF names more than ${limits.maxNames} source paths`);
        digests = [];
        sources.set(path, digests);
      }
      if (md5 !== undefined && !digests.includes(md5)) digests.push(md5);
    }
  }
  return found;
}
