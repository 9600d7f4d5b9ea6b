// Debug files for the DWARF source-name tests, made by the real tools in a temp dir, and the answers
// elfutils' debuginfod and llvm-dwarfdump give for them.
//
// - gcc: one program of three units (relative and absolute include directories, #line names with
//   `.`, `..` and `//`), as DWARF 2, 4, 5 and 64-bit 5, compressed by gcc (zlib, zlib-gnu) and by
//   objcopy (zstd), split by objcopy --only-keep-debug, with a relative and a remapped comp_dir.
// - llc (LLVM 14): one IR module for i386, x86-64, MIPS and s390x (ELF32 and ELF64, both byte
//   orders), DWARF 2, 4 and 5 (and 64-bit DWARF on the 64-bit targets), with strx strings and MD5s.
//   Their relocations are applied here and e_type set to ET_EXEC, so that every reader sees the same
//   bytes (libdw reads .o files unrelocated, llvm-dwarfdump relocates them).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { deflateSync } from "node:zlib";
import { ELF32, ELF64, type ElfClassLayout, SH_FLAGS, SH_NAME, SH_TYPE } from "../../../src/elf.js";

export const LLVM = "/usr/lib/llvm-14/bin";

/** Runs a tool and returns its standard output. */
export function tool(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", cwd, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 256 << 20 });
}

/** Whether every one of the tools runs. */
export function have(...cmds: string[]): boolean {
  return cmds.every((cmd) => {
    try {
      execFileSync(cmd, ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
}

/** One debug file made for the tests. */
export interface DebugFixture {
  /** Short name: how it was made. */
  name: string;
  /** Its path. */
  path: string;
}

/** Writes the three-unit program under `dir` and returns its source tree. */
function writeProgram(dir: string): string {
  for (const d of ["src/sub", "include", "lib", "weird"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "include/util.h"), "static inline int twice(int x) { return 2 * x; }\n");
  writeFileSync(
    join(dir, "src/main.c"),
    '#include "util.h"\nint b(int);\nint c(int);\nint main(void) { return twice(b(1) + c(2)); }\n',
  );
  writeFileSync(
    join(dir, "src/sub/b.c"),
    '#include "../../include/util.h"\nint b(int x) { return twice(x) + 1; }\n#line 7 "gen/./parser.y"\nint parse(int x) { return x - 1; }\n',
  );
  writeFileSync(
    join(dir, "lib/c.c"),
    `#include <stddef.h>\nint c(int x) { return x * 3 + (int)sizeof(size_t); }\n#line 3 "${dir}/weird//./dir/../w.c"\nint w(int x) { return x + 7; }\n`,
  );
  writeFileSync(join(dir, "weird/w.c"), "int w(int);\n");
  return dir;
}

/** gcc builds of the program: each DWARF version and compression, split and remapped. */
export function gccFixtures(dir: string): DebugFixture[] {
  const tree = writeProgram(join(dir, "gcc"));
  const src = join(tree, "src");
  const out = join(dir, "files");
  mkdirSync(out, { recursive: true });
  const units = ["main.c", "sub/b.c", join(tree, "lib/c.c")];
  const build = (name: string, flags: string[]): DebugFixture => {
    const path = join(out, name);
    tool("gcc", ["-g", "-O0", "-I../include", ...flags, ...units, "-Wl,--build-id", "-o", path], src);
    return { name, path };
  };
  const fixtures = [
    build("gcc-dwarf2", ["-gdwarf-2"]),
    build("gcc-dwarf3", ["-gdwarf-3"]),
    build("gcc-dwarf4", ["-gdwarf-4"]),
    build("gcc-dwarf5", ["-gdwarf-5"]),
    build("gcc-dwarf64", ["-gdwarf-5", "-gdwarf64"]),
    build("gcc-zlib", ["-gz=zlib"]),
    build("gcc-zlib-gnu", ["-gdwarf-4", "-gz=zlib-gnu"]),
    build("gcc-relative-compdir", [`-fdebug-prefix-map=${src}=.`]),
    build("gcc-remapped", [`-fdebug-prefix-map=${tree}=/usr/src/remapped`]),
  ];
  const five = fixtures.find((f) => f.name === "gcc-dwarf5")!.path;
  tool("objcopy", ["--compress-debug-sections=zstd", five, join(out, "gcc-zstd")]);
  tool("objcopy", ["--only-keep-debug", five, join(out, "gcc-split.debug")]);
  fixtures.push(
    { name: "gcc-zstd", path: join(out, "gcc-zstd") },
    { name: "gcc-split", path: join(out, "gcc-split.debug") },
  );
  return fixtures;
}

/** The MD5s the IR module states for its three files (LLVM gives all of a table's files one or none). */
export interface Md5s {
  main: string;
  header: string;
  other: string;
}

/** The LLVM IR module llc builds for each target: three functions in three files, with MD5s from DWARF 5 on. */
function irModule(dir: string, version: number, md5: Md5s, id: number): string {
  const note = [
    '.section .note.gnu.build-id,"a",@note',
    ".p2align 2",
    ".long 4",
    ".long 8",
    ".long 3",
    '.asciz "GNU"',
    `.long 0x${id.toString(16).padStart(8, "0")}`,
    ".long 0x89abcdef",
    ".text",
  ].map((line) => `module asm "${line.replaceAll('"', "\\22")}"`);
  const checksum = (sum: string) => (version >= 5 ? `, checksumkind: CSK_MD5, checksum: "${sum}"` : "");
  return `${note.join("\n")}
define i32 @f() !dbg !10 { ret i32 0, !dbg !20 }
define i32 @g() !dbg !11 { ret i32 1, !dbg !21 }
define i32 @h() !dbg !13 { ret i32 2, !dbg !22 }
!llvm.dbg.cu = !{!0}
!llvm.module.flags = !{!2, !3}
!0 = distinct !DICompileUnit(language: DW_LANG_C99, file: !1, producer: "llc", isOptimized: false, runtimeVersion: 0, emissionKind: FullDebug)
!1 = !DIFile(filename: "src/main.c", directory: "${dir}"${checksum(md5.main)})
!2 = !{i32 7, !"Dwarf Version", i32 ${version}}
!3 = !{i32 2, !"Debug Info Version", i32 3}
!4 = !DIFile(filename: "inc/h.h", directory: "${dir}"${checksum(md5.header)})
!5 = !DIFile(filename: "${dir}/abs/other.h", directory: "${dir}"${checksum(md5.other)})
!10 = distinct !DISubprogram(name: "f", scope: !1, file: !1, line: 1, type: !12, unit: !0, spFlags: DISPFlagDefinition)
!11 = distinct !DISubprogram(name: "g", scope: !4, file: !4, line: 2, type: !12, unit: !0, spFlags: DISPFlagDefinition)
!13 = distinct !DISubprogram(name: "h", scope: !5, file: !5, line: 3, type: !12, unit: !0, spFlags: DISPFlagDefinition)
!12 = !DISubroutineType(types: !{null})
!20 = !DILocation(line: 1, scope: !10)
!21 = !DILocation(line: 2, scope: !11)
!22 = !DILocation(line: 3, scope: !13)
`;
}

/** The targets llc builds for: both classes and both byte orders. */
export const LLC_TARGETS = [
  { triple: "i386-linux-gnu", class: 32, endian: "little" },
  { triple: "x86_64-linux-gnu", class: 64, endian: "little" },
  { triple: "mips-linux-gnu", class: 32, endian: "big" },
  { triple: "s390x-linux-gnu", class: 64, endian: "big" },
] as const;

/** The sources the IR module names, under `dir/llc-src`. */
export function llcSources(dir: string): { root: string; main: string; header: string; other: string } {
  const root = join(dir, "llc-src");
  for (const d of ["src", "inc", "abs"]) mkdirSync(join(root, d), { recursive: true });
  const main = join(root, "src/main.c");
  const header = join(root, "inc/h.h");
  const other = join(root, "abs/other.h");
  writeFileSync(main, "int f(void) { return 0; }\n");
  writeFileSync(header, "static int g(void) { return 1; }\n");
  writeFileSync(other, "static int h(void) { return 2; }\n");
  return { root, main, header, other };
}

/** llc builds of the IR module for each target and DWARF version, relocations applied. */
export function llcFixtures(dir: string, md5: Md5s): DebugFixture[] {
  const { root } = llcSources(dir);
  const out = join(dir, "files");
  const work = join(dir, "llc");
  mkdirSync(out, { recursive: true });
  mkdirSync(work, { recursive: true });
  const fixtures: DebugFixture[] = [];
  for (const t of LLC_TARGETS) {
    for (const version of [2, 4, 5]) {
      for (const dwarf64 of t.class === 64 && version >= 4 ? [false, true] : [false]) {
        const name = `llc-${t.triple.split("-")[0]}-dwarf${version}${dwarf64 ? "-64" : ""}`;
        const ll = join(work, `${name}.ll`);
        writeFileSync(ll, irModule(root, version, md5, fixtures.length + 1));
        const object = join(work, `${name}.o`);
        tool(`${LLVM}/llc`, [
          `-mtriple=${t.triple}`,
          "-filetype=obj",
          ...(dwarf64 ? ["-dwarf64"] : []),
          ll,
          "-o",
          object,
        ]);
        const path = join(out, name);
        writeFileSync(path, applyRelocations(readFileSync(object)));
        fixtures.push({ name, path });
      }
    }
  }
  return fixtures;
}

interface Section {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  header: number;
}

/** The section table of an ELF file, for the helpers below. */
function sectionsOf(bytes: Uint8Array): { L: ElfClassLayout; le: boolean; v: DataView; sections: Section[] } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const L = v.getUint8(4) === 2 ? ELF64 : ELF32;
  const le = v.getUint8(5) === 1;
  const word = (at: number) => (L.word === 8 ? Number(v.getBigUint64(at, le)) : v.getUint32(at, le));
  const shoff = word(L.eShoff);
  const count = v.getUint16(L.eShnum, le);
  const sections: Section[] = [];
  for (let i = 0; i < count; i++) {
    const at = shoff + i * L.shdrSize;
    sections.push({
      index: i,
      name: "",
      type: v.getUint32(at + SH_TYPE, le),
      flags: L.word === 8 ? v.getBigUint64(at + SH_FLAGS, le) : BigInt(v.getUint32(at + SH_FLAGS, le)),
      offset: word(at + L.shOffset),
      size: word(at + L.shSize),
      link: v.getUint32(at + L.shLink, le),
      info: v.getUint32(at + L.shInfo, le),
      header: at,
    });
  }
  const names = sections[v.getUint16(L.eShstrndx, le)]!;
  for (const s of sections) {
    const start = names.offset + v.getUint32(s.header + SH_NAME, le);
    s.name = new TextDecoder().decode(bytes.subarray(start, bytes.indexOf(0, start)));
  }
  return { L, le, v, sections };
}

/** Bytes each absolute relocation type writes, by `e_machine`: only these appear in debug sections. */
const RELOCATION_BYTES: Record<number, Record<number, number>> = {
  3: { 1: 4 }, // EM_386: R_386_32
  62: { 1: 8, 10: 4 }, // EM_X86_64: R_X86_64_64, R_X86_64_32
  8: { 2: 4 }, // EM_MIPS: R_MIPS_32
  22: { 4: 4, 22: 8 }, // EM_S390: R_390_32, R_390_64
};

/** Applies the relocations of an object's debug sections in place (S + A), drops them, and marks the file ET_EXEC. */
export function applyRelocations(input: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(input);
  const { L, le, v, sections } = sectionsOf(bytes);
  const machine = v.getUint16(18, le);
  const sizes = RELOCATION_BYTES[machine];
  if (!sizes) throw new Error(`no relocation table for e_machine ${machine}`);
  const rela = 4;
  const rel = 9;
  for (const s of sections) {
    if (s.type !== rela && s.type !== rel) continue;
    const target = sections[s.info]!;
    if (!target.name.startsWith(".debug")) continue;
    const symtab = sections[s.link]!;
    const entry = (s.type === rela ? 3 : 2) * L.word;
    for (let at = s.offset; at < s.offset + s.size; at += entry) {
      const offset = L.word === 8 ? Number(v.getBigUint64(at, le)) : v.getUint32(at, le);
      const info = L.word === 8 ? v.getBigUint64(at + 8, le) : BigInt(v.getUint32(at + 4, le));
      const type = Number(L.word === 8 ? info & 0xffffffffn : info & 0xffn);
      const symbol = Number(L.word === 8 ? info >> 32n : info >> 8n);
      const size = sizes[type];
      if (size === undefined) throw new Error(`relocation type ${type} of e_machine ${machine} in ${target.name}`);
      const field = target.offset + offset;
      const symbolAt = symtab.offset + symbol * (L.word === 8 ? 24 : 16) + (L.word === 8 ? 8 : 4);
      const value = L.word === 8 ? v.getBigUint64(symbolAt, le) : BigInt(v.getUint32(symbolAt, le));
      const addend =
        s.type === rela
          ? L.word === 8
            ? v.getBigInt64(at + 16, le)
            : BigInt(v.getInt32(at + 8, le))
          : size === 8
            ? v.getBigUint64(field, le)
            : BigInt(v.getUint32(field, le));
      const result = value + addend;
      if (size === 8) v.setBigUint64(field, BigInt.asUintN(64, result), le);
      else v.setUint32(field, Number(BigInt.asUintN(32, result)), le);
    }
    v.setUint32(s.header + SH_TYPE, 0, le);
  }
  v.setUint16(16, 2, le);
  return bytes;
}

/**
 * Compresses the named sections of an ELF file as `SHF_COMPRESSED` with `zlib` (node:zlib) or `zstd`
 * (the zstd program), writing the header in the file's class and byte order; the data goes at the end.
 */
export function compressSections(
  input: Uint8Array,
  names: string[],
  type: "zlib" | "zstd",
  scratch: string,
): Uint8Array {
  const { L, le, sections } = sectionsOf(input);
  const parts: Uint8Array[] = [input];
  let end = input.length;
  const edits: { s: Section; offset: number; size: number }[] = [];
  for (const s of sections.filter((x) => names.includes(x.name))) {
    const data = input.subarray(s.offset, s.offset + s.size);
    let packed: Uint8Array;
    if (type === "zlib") packed = deflateSync(data);
    else {
      writeFileSync(scratch, data);
      packed = execFileSync("zstd", ["-q", "-c", "--no-check", scratch]);
    }
    const header = new DataView(new ArrayBuffer(L.chdrSize));
    header.setUint32(0, type === "zlib" ? 1 : 2, le);
    if (L.word === 8) {
      header.setBigUint64(L.chSize, BigInt(s.size), le);
      header.setBigUint64(L.chSize + 8, 1n, le);
    } else {
      header.setUint32(L.chSize, s.size, le);
      header.setUint32(L.chSize + 4, 1, le);
    }
    const pad = (8 - (end % 8)) % 8;
    parts.push(new Uint8Array(pad), new Uint8Array(header.buffer), packed);
    edits.push({ s, offset: end + pad, size: L.chdrSize + packed.length });
    end += pad + L.chdrSize + packed.length;
  }
  const out = new Uint8Array(end);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  const v = new DataView(out.buffer);
  for (const { s, offset, size } of edits) {
    const word = (field: number, value: number | bigint) =>
      L.word === 8
        ? v.setBigUint64(s.header + field, BigInt(value), le)
        : v.setUint32(s.header + field, Number(value), le);
    word(L.shOffset, offset);
    word(L.shSize, size);
    word(SH_FLAGS, s.flags | 0x800n);
    word(L.shAddralign, L.word);
  }
  return out;
}

/** The file with the named section's bytes replaced by `content`, written at the end of the file. */
export function replaceSection(input: Uint8Array, name: string, content: Uint8Array): Uint8Array {
  const { L, le, sections } = sectionsOf(input);
  const s = sections.find((x) => x.name === name);
  if (!s) throw new Error(`no ${name}`);
  const at = input.length + ((8 - (input.length % 8)) % 8);
  const out = new Uint8Array(at + content.length);
  out.set(input);
  out.set(content, at);
  const v = new DataView(out.buffer);
  const word = (field: number, value: number) =>
    L.word === 8 ? v.setBigUint64(s.header + field, BigInt(value), le) : v.setUint32(s.header + field, value, le);
  word(L.shOffset, at);
  word(L.shSize, content.length);
  return out;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A running `debuginfod -F` over one directory. */
export interface Elfutils {
  /** Its base URL. */
  url: string;
  /** Per scanned file with a build ID: the source paths its debug_sourcefiles set took, in order (the log's "new" lines). */
  names: Map<string, string[]>;
  /** Stops it. */
  stop(): void;
}

/**
 * Starts elfutils' `debuginfod -F -c 1 -vvvvv` over `root` (its database in `dir`) and resolves once
 * it has recorded every one of `files`, with the source paths its log printed for each: at -vvvvv
 * `dwarf_extract_source_paths` prints every path it forms ("new" the first time in a file), and
 * `scan_source_file` ends each file with "recorded buildid=… file=… atype=…".
 */
export async function startElfutils(
  root: string,
  dir: string,
  files: string[],
  timeoutMs = 240_000,
): Promise<Elfutils> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    "debuginfod",
    ["-F", "-c", "1", "-p", String(port), "-d", join(dir, "elfutils.sqlite"), "-t", "0", "-g", "0", "-vvvvv", root],
    { stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH, HOME: dir } },
  );
  const names = new Map<string, string[]>();
  let pending: string[] = [];
  const waiting = new Set(files);
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`debuginfod did not scan ${[...waiting].join(", ")} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.on("exit", (code) => reject(new Error(`debuginfod exited with ${code}`)));
    createInterface({ input: child.stderr! }).on("line", (line) => {
      const body = /^\[[^\]]*\] \(\d+\/\d+\): (.*)$/.exec(line)?.[1];
      if (body === undefined) return;
      const path = / new$/.test(body) ? body.slice(0, -4) : undefined;
      if (path !== undefined) pending.push(path);
      const recorded = /^recorded buildid=\w* file=(.*) mtime=\d+ atype=\w*$/.exec(body);
      if (recorded) {
        if (pending.length > 0) names.set(recorded[1]!, pending);
        pending = [];
        waiting.delete(recorded[1]!);
        if (waiting.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
  });
  try {
    await done;
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  child.removeAllListeners("exit");
  return { url: `http://127.0.0.1:${port}`, names, stop: () => child.kill("SIGTERM") };
}

/** A line table as llvm-dwarfdump --debug-line prints it. */
export interface DumpedTable {
  version: number;
  directories: string[];
  files: { name: string; directory: number; md5?: string }[];
}

/** A compile unit's first DIE as llvm-dwarfdump --debug-info prints it. */
export interface DumpedUnit {
  offset: number;
  name?: string;
  compDir?: string;
  stmtList?: number;
}

function unquote(s: string): string {
  return JSON.parse(`"${s.replace(/\\'/g, "'")}"`);
}

/** Line tables (by offset) and compile units of a file, as llvm-dwarfdump prints them. */
export function dwarfdump(path: string): { tables: Map<number, DumpedTable>; units: DumpedUnit[] } {
  const tables = new Map<number, DumpedTable>();
  let table: DumpedTable | undefined;
  let file: DumpedTable["files"][number] | undefined;
  for (const line of tool(`${LLVM}/llvm-dwarfdump`, ["--debug-line", path]).split("\n")) {
    const start = /^debug_line\[(0x[0-9a-f]+)\]/.exec(line);
    if (start) {
      table = { version: 0, directories: [], files: [] };
      tables.set(Number(start[1]), table);
      continue;
    }
    if (!table) continue;
    const version = /^ +version: (\d+)/.exec(line);
    const directory = /^include_directories\[ *\d+\] = "(.*)"$/.exec(line);
    const name = /^ +name: "(.*)"$/.exec(line);
    const index = /^ +dir_index: (\d+)$/.exec(line);
    const md5 = /^ +md5_checksum: ([0-9a-f]{32})$/.exec(line);
    if (version) table.version = Number(version[1]);
    else if (directory) table.directories.push(unquote(directory[1]!));
    else if (/^file_names\[ *\d+\]:$/.test(line)) {
      file = { name: "", directory: 0 };
      table.files.push(file);
    } else if (name && file) file.name = unquote(name[1]!);
    else if (index && file) file.directory = Number(index[1]);
    else if (md5 && file) file.md5 = md5[1]!;
  }
  const units: DumpedUnit[] = [];
  let unit: DumpedUnit | undefined;
  let inFirstDie = false;
  for (const line of tool(`${LLVM}/llvm-dwarfdump`, ["--debug-info", path]).split("\n")) {
    const start = /^(0x[0-9a-f]+): Compile Unit:/.exec(line);
    if (start) {
      unit = { offset: Number(start[1]) };
      units.push(unit);
      inFirstDie = false;
      continue;
    }
    if (!unit) continue;
    if (/^0x[0-9a-f]+: DW_TAG_/.test(line)) inFirstDie = /DW_TAG_compile_unit/.test(line);
    else if (/^0x[0-9a-f]+: {2,}/.test(line)) inFirstDie = false;
    if (!inFirstDie) continue;
    const attribute = /^ +(DW_AT_name|DW_AT_comp_dir|DW_AT_stmt_list)\t\((.*)\)$/.exec(line);
    if (attribute?.[1] === "DW_AT_name") unit.name = unquote(attribute[2]!.slice(1, -1));
    else if (attribute?.[1] === "DW_AT_comp_dir") unit.compDir = unquote(attribute[2]!.slice(1, -1));
    else if (attribute?.[1] === "DW_AT_stmt_list") unit.stmtList = Number(attribute[2]);
  }
  return { tables, units };
}
