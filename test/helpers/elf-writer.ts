// Test helpers for the ELF reader: a synthetic ELF writer (ELF32/ELF64 x little/big endian, notes in
// PT_NOTE segments and/or SHT_NOTE sections, any alignment, odd cases) and a batch runner for GNU readelf.
import { spawn, spawnSync } from "node:child_process";

/** One note as written: `n_namesz`, `n_descsz`, `n_type`, the name (NUL-terminated), the descriptor. */
export interface NoteSpec {
  /** Owner name, written with a trailing NUL; default "GNU". */
  name?: string;
  /** `n_type`; default 3 (NT_GNU_BUILD_ID). */
  type?: number;
  /** Descriptor bytes. */
  desc: Uint8Array | readonly number[];
  /** Written instead of the true `n_namesz` (the bytes stay as laid out). */
  namesz?: number;
  /** Written instead of the true `n_descsz`. */
  descsz?: number;
}

/** A run of notes, reachable through a PT_NOTE segment, an SHT_NOTE section, or both. */
export interface NoteAreaSpec {
  notes: readonly NoteSpec[];
  /** Note alignment used for padding; default 4. */
  align?: 4 | 8;
  /** Written as `p_align` / `sh_addralign` instead of `align`. */
  alignField?: number;
  /** Default "both". */
  in?: "segment" | "section" | "both";
  /** File offset to place the area at (must not overlap earlier content); default: next free, aligned. */
  at?: number;
  /** Extra bytes appended inside the area after its last note. */
  trailing?: readonly number[];
  /** Written as `sh_type` instead of SHT_NOTE (7). */
  sectionType?: number;
}

/** A synthetic ELF file. */
export interface ElfSpec {
  elfClass: 32 | 64;
  endian: "little" | "big";
  /** `e_type`; default 3 (ET_DYN). */
  type?: number;
  /** `e_machine`; default 3 (i386), 20 (PowerPC), 62 (x86-64) or 22 (s390) by class and byte order. */
  machine?: number;
  areas: readonly NoteAreaSpec[];
  /** Put a PT_LOAD before the PT_NOTEs as a linker does; default true. */
  load?: boolean;
  /** Write no section header table at all (as `strip --strip-section-headers` or a core dump); default false. */
  noSections?: boolean;
  /** Bytes of zeros at the end of the file. */
  tail?: number;
}

/** Where {@link writeElf} put things. */
export interface ElfImage {
  bytes: Uint8Array;
  phoff: number;
  shoff: number;
  /** Per area: file offset and size, and each note's file offset and descriptor offset. */
  areas: { offset: number; size: number; notes: { offset: number; desc: number }[] }[];
}

/** ELF `e_type` values. */
export const ET = { NONE: 0, REL: 1, EXEC: 2, DYN: 3, CORE: 4 } as const;

const SIZES = {
  32: { ehdr: 52, phdr: 32, shdr: 40 },
  64: { ehdr: 64, phdr: 56, shdr: 64 },
} as const;

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Field writer over a growable byte array, in one class and byte order. */
class Out {
  bytes = new Uint8Array(1 << 16);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  constructor(
    readonly elfClass: 32 | 64,
    readonly le: boolean,
  ) {}

  private room(end: number): void {
    if (end <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(end, this.bytes.length * 2));
    grown.set(this.bytes);
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  private touch(at: number, n: number): void {
    this.room(at + n);
    this.length = Math.max(this.length, at + n);
  }

  u8(at: number, v: number): void {
    this.touch(at, 1);
    this.view.setUint8(at, v);
  }
  u16(at: number, v: number): void {
    this.touch(at, 2);
    this.view.setUint16(at, v, this.le);
  }
  u32(at: number, v: number): void {
    this.touch(at, 4);
    this.view.setUint32(at, v >>> 0, this.le);
  }
  /** An address/offset-sized field. */
  word(at: number, v: number | bigint): void {
    if (this.elfClass === 32) {
      this.u32(at, Number(v));
    } else {
      this.touch(at, 8);
      this.view.setBigUint64(at, BigInt(v), this.le);
    }
  }
  raw(at: number, data: Uint8Array | readonly number[]): void {
    this.touch(at, data.length);
    this.bytes.set(data, at);
  }
  pad(to: number): void {
    this.touch(0, to);
  }
}

function defaultMachine(elfClass: 32 | 64, le: boolean): number {
  if (elfClass === 32) return le ? 3 : 20;
  return le ? 62 : 22;
}

/** Lays out `notes` at `at` with `align`-byte padding; returns each note's offset and descriptor offset, and the end. */
function writeNotes(
  out: Out,
  at: number,
  notes: readonly NoteSpec[],
  align: number,
): { placed: { offset: number; desc: number }[]; end: number } {
  const placed: { offset: number; desc: number }[] = [];
  let p = at;
  out.pad(at);
  for (const note of notes) {
    const name = new TextEncoder().encode(`${note.name ?? "GNU"}\0`);
    const desc = note.desc;
    out.u32(p, note.namesz ?? name.length);
    out.u32(p + 4, note.descsz ?? desc.length);
    out.u32(p + 8, note.type ?? 3);
    out.raw(p + 12, name);
    const descAt = p + alignUp(12 + name.length, align);
    out.raw(descAt, desc);
    out.pad(descAt + desc.length);
    placed.push({ offset: p, desc: descAt });
    p = at + alignUp(descAt + desc.length - at, align);
    out.pad(p);
  }
  return { placed, end: p };
}

/** Writes a synthetic ELF file from `spec`. */
export function writeElf(spec: ElfSpec): ElfImage {
  const { elfClass } = spec;
  const le = spec.endian === "little";
  const size = SIZES[elfClass];
  const out = new Out(elfClass, le);
  const segmentAreas = spec.areas.filter((a) => (a.in ?? "both") !== "section");
  const sectionAreas = spec.noSections ? [] : spec.areas.filter((a) => (a.in ?? "both") !== "segment");
  const load = spec.load ?? true;
  const phnum = segmentAreas.length + (load ? 1 : 0);
  const phoff = phnum > 0 ? size.ehdr : 0;
  out.pad(size.ehdr + phnum * size.phdr);

  const areas: ElfImage["areas"] = [];
  for (const area of spec.areas) {
    const align = area.align ?? 4;
    const offset = area.at ?? alignUp(out.length, 8);
    const { placed, end } = writeNotes(out, offset, area.notes, align);
    const trailing = area.trailing ?? [];
    out.raw(end, trailing);
    areas.push({ offset, size: end + trailing.length - offset, notes: placed });
  }

  let shoff = 0;
  const shnum = sectionAreas.length + 2; // null section, the note sections, .shstrtab
  if (!spec.noSections) {
    const names = ["", ...sectionAreas.map((_, i) => `.note.${i}`), ".shstrtab"];
    const strtab = new TextEncoder().encode(`${names.join("\0")}\0`);
    const strtabAt = out.length;
    out.raw(strtabAt, strtab);
    shoff = alignUp(out.length, 8);
    let nameAt = 0;
    names.forEach((name, i) => {
      const s = shoff + i * size.shdr;
      out.pad(s + size.shdr);
      out.u32(s, nameAt);
      nameAt += name.length + 1;
      if (i === 0) return;
      const isStrtab = i === names.length - 1;
      const area = sectionAreas[i - 1];
      const placed = area ? areas[spec.areas.indexOf(area)] : undefined;
      const o =
        elfClass === 32 ? { type: 4, offset: 16, size: 20, align: 32 } : { type: 4, offset: 24, size: 32, align: 48 };
      out.u32(s + o.type, isStrtab ? 3 : (area?.sectionType ?? 7));
      out.word(s + o.offset, isStrtab ? strtabAt : (placed?.offset ?? 0));
      out.word(s + o.size, isStrtab ? strtab.length : (placed?.size ?? 0));
      out.word(s + o.align, isStrtab ? 1 : (area?.alignField ?? area?.align ?? 4));
    });
  }
  if (spec.tail) out.pad(out.length + spec.tail);

  // ELF header.
  out.raw(0, [0x7f, 0x45, 0x4c, 0x46, elfClass === 32 ? 1 : 2, le ? 1 : 2, 1, 0]);
  out.u16(16, spec.type ?? ET.DYN);
  out.u16(18, spec.machine ?? defaultMachine(elfClass, le));
  out.u32(20, 1);
  const e =
    elfClass === 32
      ? { phoff: 28, shoff: 32, ehsize: 40, phentsize: 42, phnum: 44, shentsize: 46, shnum: 48, shstrndx: 50 }
      : { phoff: 32, shoff: 40, ehsize: 52, phentsize: 54, phnum: 56, shentsize: 58, shnum: 60, shstrndx: 62 };
  out.word(e.phoff, phoff);
  out.word(e.shoff, shoff);
  out.u16(e.ehsize, size.ehdr);
  out.u16(e.phentsize, phnum > 0 ? size.phdr : 0);
  out.u16(e.phnum, phnum);
  out.u16(e.shentsize, spec.noSections ? 0 : size.shdr);
  out.u16(e.shnum, spec.noSections ? 0 : shnum);
  out.u16(e.shstrndx, spec.noSections ? 0 : shnum - 1);

  // Program headers: an optional PT_LOAD of the whole file, then one PT_NOTE per segment area.
  const p =
    elfClass === 32
      ? { offset: 4, vaddr: 8, paddr: 12, filesz: 16, memsz: 20, flags: 24, align: 28 }
      : { flags: 4, offset: 8, vaddr: 16, paddr: 24, filesz: 32, memsz: 40, align: 48 };
  const phdrs = [
    ...(load ? [{ type: 1, offset: 0, size: out.length, align: 0x1000 }] : []),
    ...segmentAreas.map((a) => {
      const placed = areas[spec.areas.indexOf(a)];
      return { type: 4, offset: placed?.offset ?? 0, size: placed?.size ?? 0, align: a.alignField ?? a.align ?? 4 };
    }),
  ];
  phdrs.forEach((ph, i) => {
    const at = phoff + i * size.phdr;
    out.u32(at, ph.type);
    out.u32(at + p.flags, 4);
    out.word(at + p.offset, ph.offset);
    out.word(at + p.vaddr, 0x40_0000 + ph.offset);
    out.word(at + p.paddr, 0x40_0000 + ph.offset);
    out.word(at + p.filesz, ph.size);
    out.word(at + p.memsz, ph.size);
    out.word(at + p.align, ph.align);
  });

  return { bytes: out.bytes.slice(0, out.length), phoff, shoff, areas };
}

/** Why GNU readelf cannot serve as the oracle here, or undefined when it can. */
export function readelfMissing(): string | undefined {
  const r = spawnSync("readelf", ["--version"], { encoding: "utf8" });
  if (r.error) return `readelf not found (${r.error.message}): install binutils`;
  const first = r.stdout.split("\n")[0] ?? "";
  if (!first.includes("GNU readelf")) return `readelf is not GNU readelf: ${first}`;
  return undefined;
}

function runReadelf(files: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("readelf", ["-n", ...files], { env: { ...process.env, LC_ALL: "C" } });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.resume();
    child.on("error", reject);
    child.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

const BUILD_ID_LINE = /^\s+Build ID: ([0-9a-f]+)\s*$/;

/**
 * The first non-empty `Build ID:` readelf -n prints for each file (undefined: none), running readelf on
 * batches of files with at most `parallel` processes at once; it names each file in a `File:` header.
 */
export async function readelfBuildIds(
  files: readonly string[],
  { batch = 200, parallel = 2 } = {},
): Promise<Map<string, string | undefined>> {
  const result = new Map<string, string | undefined>();
  const batches: string[][] = [];
  for (let i = 0; i < files.length; i += batch) batches.push(files.slice(i, i + batch));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const group = batches[next++] ?? [];
      const text = await runReadelf(group);
      let current = group.length === 1 ? group[0] : undefined;
      if (current !== undefined) result.set(current, undefined);
      for (const line of text.split("\n")) {
        if (line.startsWith("File: ")) {
          current = line.slice(6);
          result.set(current, undefined);
          continue;
        }
        const m = BUILD_ID_LINE.exec(line);
        if (m && current !== undefined && result.get(current) === undefined) result.set(current, m[1]);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return result;
}
