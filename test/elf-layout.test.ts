// The per-class layout tables all three ELF readers take their offsets from, field by field against
// LLVM's llvm-readobj: on every fixture, on this machine's node, and on files made here whose every
// field differs from its neighbours (p_paddr from p_vaddr, p_memsz from p_filesz, sh_link from sh_info).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
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

const LLVM = "/usr/lib/llvm-14/bin";
const READOBJ = `${LLVM}/llvm-readobj`;
const YAML2OBJ = `${LLVM}/yaml2obj`;
const missing = [READOBJ, YAML2OBJ].some((tool) => spawnSync(tool, ["--version"]).error !== undefined);
const fixtures = new URL("./fixtures/elf/", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "elf-layout-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An executable with two segments and two sections in which no two neighbouring fields agree. */
function distinctFields(elfClass: 32 | 64, data: "LSB" | "MSB"): string {
  const machine = { LSB: { 32: "EM_386", 64: "EM_X86_64" }, MSB: { 32: "EM_PPC", 64: "EM_PPC64" } }[data][elfClass];
  const yaml = `--- !ELF
FileHeader: { Class: ELFCLASS${elfClass}, Data: ELFDATA2${data}, Type: ET_EXEC, Machine: ${machine} }
Sections:
  - { Name: .text, Type: SHT_PROGBITS, Flags: [ SHF_ALLOC, SHF_EXECINSTR ], Address: 0x1000, AddressAlign: 16, Content: "0011223344556677" }
  - { Name: .data, Type: SHT_PROGBITS, Flags: [ SHF_ALLOC, SHF_WRITE ], Address: 0x3000, AddressAlign: 8, Link: .text, Info: 3, Content: "8899" }
ProgramHeaders:
  - { Type: PT_LOAD, Flags: [ PF_R, PF_X ], VAddr: 0x1000, PAddr: 0x2000, MemSize: 0x100, Align: 0x10, FirstSec: .text, LastSec: .text }
  - { Type: PT_LOAD, Flags: [ PF_R, PF_W ], VAddr: 0x3000, PAddr: 0x5000, MemSize: 0x40, Align: 0x8, FirstSec: .data, LastSec: .data }
`;
  const name = join(dir, `elf${elfClass}-${data.toLowerCase()}-distinct`);
  writeFileSync(`${name}.yaml`, yaml);
  const run = spawnSync(YAML2OBJ, [`${name}.yaml`, "-o", `${name}.elf`], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`yaml2obj ${name}.yaml: ${run.stderr}`);
  return `${name}.elf`;
}

const files = [
  ...readdirSync(fixtures)
    .filter((f) => f.endsWith(".elf"))
    .map((f) => join(fixtures, f)),
  process.execPath,
  ...(missing ? [] : ([32, 64] as const).flatMap((c) => (["LSB", "MSB"] as const).map((d) => distinctFields(c, d)))),
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

/** Each named field read through `read`, beside the same names in what llvm-readobj printed. */
function expectFields(read: Record<string, () => bigint>, printed: Fields, where: string): void {
  const names = Object.keys(read);
  const ours = Object.fromEntries(names.map((n) => [n, read[n]!()]));
  expect(ours, where).toEqual(Object.fromEntries(names.map((n) => [n, printed[n]])));
}

describe.skipIf(missing)("ELF layout tables against llvm-readobj", () => {
  test.each(files)("%s: every header, section and segment field", (path) => {
    const { layout: L, u16, u32, word } = fields(readFileSync(path));
    const want = readobj(path);
    expect(want.segments.length + want.sections.length).toBeGreaterThan(0);
    expectFields(
      {
        Type: () => u16(E_TYPE),
        Machine: () => u16(E_MACHINE),
        ProgramHeaderOffset: () => word(L.ePhoff),
        SectionHeaderOffset: () => word(L.eShoff),
        HeaderSize: () => BigInt(L.ehdrSize),
        ProgramHeaderEntrySize: () => u16(L.ePhentsize),
        ProgramHeaderCount: () => u16(L.ePhnum),
        SectionHeaderEntrySize: () => u16(L.eShentsize),
        SectionHeaderCount: () => u16(L.eShnum),
        StringTableSectionIndex: () => u16(L.eShstrndx),
      },
      want.header,
      "ELF header",
    );
    if (want.segments.length > 0) expect(u16(L.ePhentsize)).toBe(BigInt(L.phdrSize));
    for (const [i, printed] of want.segments.entries()) {
      const at = Number(word(L.ePhoff)) + i * L.phdrSize;
      expectFields(
        {
          Type: () => u32(at + P_TYPE),
          Offset: () => word(at + L.pOffset),
          VirtualAddress: () => word(at + L.pVaddr),
          FileSize: () => word(at + L.pFilesz),
          MemSize: () => word(at + L.pMemsz),
          Flags: () => u32(at + L.pFlags),
          Alignment: () => word(at + L.pAlign),
        },
        printed,
        `program header ${i}`,
      );
    }
    if (want.sections.length > 0) expect(u16(L.eShentsize)).toBe(BigInt(L.shdrSize));
    for (const [i, printed] of want.sections.entries()) {
      const at = Number(word(L.eShoff)) + i * L.shdrSize;
      expectFields(
        {
          Name: () => u32(at + SH_NAME),
          Type: () => u32(at + SH_TYPE),
          Flags: () => word(at + SH_FLAGS),
          Offset: () => word(at + L.shOffset),
          Size: () => word(at + L.shSize),
          Link: () => u32(at + L.shLink),
          Info: () => u32(at + L.shInfo),
          AddressAlignment: () => word(at + L.shAddralign),
        },
        printed,
        `section ${i}`,
      );
    }
  });
});
