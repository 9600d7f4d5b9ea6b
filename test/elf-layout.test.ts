// The per-class layout tables all three ELF readers take their offsets from, field by field against
// LLVM's llvm-readobj on every fixture (ELF32 and ELF64, both byte orders) and on this machine's node.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  E_MACHINE,
  E_TYPE,
  ELF32,
  ELF64,
  type ElfClassLayout,
  P_TYPE,
  SH_FLAGS,
  SH_NAME,
  SH_TYPE,
} from "../src/elf.js";

const READOBJ = "/usr/lib/llvm-14/bin/llvm-readobj";
const missing = spawnSync(READOBJ, ["--version"]).error !== undefined;
const fixtures = new URL("./fixtures/elf/", import.meta.url).pathname;
const files = [
  ...readdirSync(fixtures)
    .filter((f) => f.endsWith(".elf"))
    .map((f) => join(fixtures, f)),
  process.execPath,
];

type Fields = Record<string, bigint>;

/** The `ElfHeader`, `Section` and `ProgramHeader` blocks llvm-readobj prints, each as its numeric fields. */
function readobj(path: string): { header: Fields; sections: Fields[]; segments: Fields[] } {
  const run = spawnSync(READOBJ, ["--file-headers", "--section-headers", "--program-headers", path], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) throw new Error(`llvm-readobj ${path}: ${run.stderr}`);
  const blocks: { kind: string; fields: Fields }[] = [];
  let current: Fields | undefined;
  for (const line of run.stdout.split("\n")) {
    const open = /^ {0,2}(ElfHeader|Section|ProgramHeader) \{$/.exec(line);
    if (open) {
      current = {};
      blocks.push({ kind: open[1]!, fields: current });
      continue;
    }
    // A field of the block itself: four spaces in for sections and segments, two for the header.
    const field = /^ {2,4}(\w+): ?(.*?)\s*$|^ {2,4}(Flags) \[ \((0x[0-9A-Fa-f]+)\)$/.exec(line);
    if (!current || !field) continue;
    const key = field[1] ?? field[3]!;
    const value = field[2] ?? field[4]!;
    const inParens = /\((0x[0-9A-Fa-f]+|\d+)\)$/.exec(value);
    const number = inParens ? inParens[1]! : /^(0x[0-9A-Fa-f]+|\d+)$/.exec(value)?.[1];
    if (number !== undefined && !(key in current)) current[key] = BigInt(number);
  }
  const of = (kind: string) => blocks.filter((b) => b.kind === kind).map((b) => b.fields);
  return { header: of("ElfHeader")[0]!, sections: of("Section"), segments: of("ProgramHeader") };
}

/** A reader of fields at table offsets: u16, u32, or a class-sized word, in the file's byte order. */
function fields(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const layout: ElfClassLayout = view.getUint8(4) === 2 ? ELF64 : ELF32;
  const le = view.getUint8(5) === 1;
  return {
    layout,
    u16: (at: number) => BigInt(view.getUint16(at, le)),
    u32: (at: number) => BigInt(view.getUint32(at, le)),
    word: (at: number) => (layout.word === 8 ? view.getBigUint64(at, le) : BigInt(view.getUint32(at, le))),
  };
}

describe.skipIf(missing)("ELF layout tables against llvm-readobj", () => {
  test.each(files)("%s: every header, section and segment field", (path) => {
    const bytes = readFileSync(path);
    const { layout: L, u16, u32, word } = fields(bytes);
    const want = readobj(path);
    const h = want.header;
    expect({
      Type: u16(E_TYPE),
      Machine: u16(E_MACHINE),
      ProgramHeaderOffset: word(L.ePhoff),
      SectionHeaderOffset: word(L.eShoff),
      HeaderSize: BigInt(L.ehdrSize),
      ProgramHeaderEntrySize: u16(L.ePhentsize),
      ProgramHeaderCount: u16(L.ePhnum),
      SectionHeaderEntrySize: u16(L.eShentsize),
      SectionHeaderCount: u16(L.eShnum),
      StringTableSectionIndex: u16(L.eShstrndx),
    }).toEqual({
      Type: h.Type,
      Machine: h.Machine,
      ProgramHeaderOffset: h.ProgramHeaderOffset,
      SectionHeaderOffset: h.SectionHeaderOffset,
      HeaderSize: h.HeaderSize,
      ProgramHeaderEntrySize: h.ProgramHeaderEntrySize,
      ProgramHeaderCount: h.ProgramHeaderCount,
      SectionHeaderEntrySize: h.SectionHeaderEntrySize,
      SectionHeaderCount: h.SectionHeaderCount,
      StringTableSectionIndex: h.StringTableSectionIndex,
    });
    const phoff = Number(word(L.ePhoff));
    if (want.segments.length > 0) expect(u16(L.ePhentsize)).toBe(BigInt(L.phdrSize));
    const segments = want.segments.map((_, i) => {
      const at = phoff + i * L.phdrSize;
      return {
        Type: u32(at + P_TYPE),
        Offset: word(at + L.pOffset),
        VirtualAddress: word(at + L.pVaddr),
        FileSize: word(at + L.pFilesz),
        MemSize: word(at + L.pMemsz),
        Flags: u32(at + L.pFlags),
        Alignment: word(at + L.pAlign),
      };
    });
    expect(segments).toEqual(
      want.segments.map((s) => ({
        Type: s.Type,
        Offset: s.Offset,
        VirtualAddress: s.VirtualAddress,
        FileSize: s.FileSize,
        MemSize: s.MemSize,
        Flags: s.Flags,
        Alignment: s.Alignment,
      })),
    );
    const shoff = Number(word(L.eShoff));
    if (want.sections.length > 0) expect(u16(L.eShentsize)).toBe(BigInt(L.shdrSize));
    const sections = want.sections.map((_, i) => {
      const at = shoff + i * L.shdrSize;
      return {
        Name: u32(at + SH_NAME),
        Type: u32(at + SH_TYPE),
        Flags: word(at + SH_FLAGS),
        Offset: word(at + L.shOffset),
        Size: word(at + L.shSize),
        Link: u32(at + L.shLink),
        Info: u32(at + L.shInfo),
        AddressAlignment: word(at + L.shAddralign),
      };
    });
    expect(sections).toEqual(
      want.sections.map((s) => ({
        Name: s.Name,
        Type: s.Type,
        Flags: s.Flags,
        Offset: s.Offset,
        Size: s.Size,
        Link: s.Link,
        Info: s.Info,
        AddressAlignment: s.AddressAlignment,
      })),
    );
    expect(want.segments.length + want.sections.length).toBeGreaterThan(0);
  });
});
