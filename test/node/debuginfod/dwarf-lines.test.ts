// The source names a debug file's DWARF gives, against elfutils' debuginfod (the paths its scanner
// forms, from its -vvvvv log) and llvm-dwarfdump (each line table and unit as it prints them), over
// files made by gcc and llc in every DWARF version, both ELF classes and byte orders, 64-bit DWARF,
// zlib, zlib-gnu and zstd compression; and over the Debian debug files installed here.
import { createHash } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { debugSection } from "../../../src/node/debuginfod/debug-sections.js";
import { readDwarfUnits, readSourceNames } from "../../../src/node/debuginfod/dwarf-lines.js";
import { fdReader } from "../../../src/node/debuginfod/reads.js";
import { readElfLayout } from "../../../src/node/debuginfod/sections.js";
import {
  compressSections,
  type DebugFixture,
  dwarfdump,
  type Elfutils,
  gccFixtures,
  have,
  LLVM,
  llcFixtures,
  llcSources,
  startElfutils,
  tool,
} from "./dwarf-fixtures.js";

const missing = !have(
  "gcc",
  "objcopy",
  "readelf",
  "debuginfod",
  "zstd",
  `${LLVM}/llc`,
  `${LLVM}/llvm-dwarfdump`,
  `${LLVM}/llvm-objcopy`,
);
const DEBUG_SECTIONS = [
  ".debug_info",
  ".debug_abbrev",
  ".debug_line",
  ".debug_str",
  ".debug_line_str",
  ".debug_str_offsets",
];

/** A fixture, and for a compressed one the same file with its sections plain. */
interface Fixture extends DebugFixture {
  plain?: string;
}

let dir: string;
let fixtures: Fixture[] = [];
let elfutils: Elfutils;
let refused: string;

function withFile<T>(path: string, use: (read: ReturnType<typeof fdReader>, size: number) => T): T {
  const fd = openSync(path, "r");
  try {
    return use(fdReader(fd), fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

// Both tests compare with llvm-dwarfdump's reading of the same files: it runs once a file.
const dumps = new Map<string, ReturnType<typeof dwarfdump>>();
function dumpOf(path: string): ReturnType<typeof dwarfdump> {
  let dump = dumps.get(path);
  if (!dump) {
    dump = dwarfdump(path);
    dumps.set(path, dump);
  }
  return dump;
}

const md5Of = (path: string) => createHash("md5").update(readFileSync(path)).digest("hex");

beforeAll(async () => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), "dwarf-lines-"));
  const files = join(dir, "files");
  const sources = llcSources(dir);
  fixtures = [
    ...gccFixtures(dir),
    ...llcFixtures(dir, { main: md5Of(sources.main), header: md5Of(sources.header), other: md5Of(sources.other) }),
  ];
  const plain = join(files, "plain");
  mkdirSync(plain);
  for (const f of fixtures.filter((x) => /zlib|zstd/.test(x.name))) {
    f.plain = join(plain, f.name);
    tool("objcopy", ["--decompress-debug-sections", f.path, f.plain]);
  }
  // llvm-objcopy 14 compresses ELF64 files soundly; its ELF32 sections end in 12 stray bytes (see refused below), so those are compressed here.
  for (const f of fixtures.filter((x) => /^llc-.*-dwarf5$/.test(x.name))) {
    const elf64 = /x86_64|s390x/.test(f.name);
    for (const how of elf64 ? ["zlib", "zlib-gnu"] : []) {
      const path = join(files, `${f.name}-${how}`);
      tool(`${LLVM}/llvm-objcopy`, [`--compress-debug-sections=${how}`, f.path, path]);
      fixtures.push({ name: `${f.name}-${how}`, path, plain: f.path });
    }
    for (const how of elf64 ? (["zstd"] as const) : (["zlib", "zstd"] as const)) {
      const path = join(files, `${f.name}-${how}`);
      writeFileSync(path, compressSections(readFileSync(f.path), DEBUG_SECTIONS, how, join(dir, "section")));
      fixtures.push({ name: `${f.name}-${how}`, path, plain: f.path });
    }
  }
  refused = join(files, "llvm-objcopy-elf32-zlib");
  tool(`${LLVM}/llvm-objcopy`, [
    "--compress-debug-sections=zlib",
    fixtures.find((f) => f.name === "llc-mips-dwarf5")!.path,
    refused,
  ]);
  elfutils = await startElfutils(files, dir, [
    ...fixtures.flatMap((f) => (f.plain?.startsWith(plain) ? [f.path, f.plain] : [f.path])),
    refused,
  ]);
}, 300_000);

afterAll(() => {
  elfutils?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing)("the source names of files made by gcc and llc", () => {
  test("every kind of file was made", () => {
    const names = fixtures.map((f) => f.name);
    for (const kind of [
      "gcc-dwarf2",
      "gcc-zstd",
      "gcc-zlib-gnu",
      "llc-mips-dwarf5-zstd",
      "llc-s390x-dwarf5-64",
      "llc-i386-dwarf2",
    ])
      expect(names).toContain(kind);
    const classes = fixtures.map((f) => withFile(f.path, (read, size) => readElfLayout(read, size)));
    expect(new Set(classes.map((l) => `${l.classLayout.elfClass}${l.littleEndian ? "LE" : "BE"}`))).toEqual(
      new Set(["32LE", "64LE", "32BE", "64BE"]),
    );
  });

  test("are the paths elfutils' debuginfod forms, plus each DWARF 5 table's file 0", () => {
    for (const f of fixtures) {
      const ours = withFile(f.path, (read, size) => readSourceNames(read, size));
      // elfutils 0.188 predates zstd sections (0.189): its names for those come from the plain twin.
      const theirs = elfutils.names.get(f.name.endsWith("zstd") ? f.plain! : f.path) ?? [];
      expect(theirs.length, f.name).toBeGreaterThan(0);
      const paths = [...ours.sources.keys()];
      expect(ours.problemCount, f.name).toBe(0);
      const extra = paths.filter((p) => !theirs.includes(p));
      expect(
        theirs.filter((p) => !paths.includes(p)),
        f.name,
      ).toEqual([]);
      const dump = dumpOf(f.plain ?? f.path);
      const fileZero = [...dump.tables.values()].filter((t) => t.version >= 5).map((t) => t.files[0]!.name);
      for (const p of extra)
        expect(
          fileZero.some((name) => p === name || p.endsWith(`/${name}`)),
          `${f.name}: ${p}`,
        ).toBe(true);
      if (!f.name.includes("dwarf5") && !/zstd|zlib$|split|gcc-dwarf64|compdir|remapped/.test(f.name))
        expect(paths, f.name).toEqual(theirs);
    }
  });

  test("each unit and line table is as llvm-dwarfdump prints it", () => {
    for (const f of fixtures) {
      const dump = dumpOf(f.plain ?? f.path);
      const units = withFile(f.path, (read, size) => [...readDwarfUnits(read, size)]);
      expect(
        units.map((u) => u.offset),
        f.name,
      ).toEqual(dump.units.map((u) => u.offset));
      for (const [i, unit] of units.entries()) {
        const want = dump.units[i]!;
        expect({ name: unit.name, compDir: unit.compDir, line: unit.lines?.offset }, `${f.name} unit ${i}`).toEqual({
          name: want.name,
          compDir: want.compDir,
          line: want.stmtList,
        });
        const table = dump.tables.get(unit.lines!.offset)!;
        expect(unit.lines, `${f.name} unit ${i}`).toEqual({ offset: unit.lines!.offset, ...table });
      }
    }
  });

  test("compressed sections inflate to the bytes of the plain file", () => {
    for (const f of fixtures.filter((x) => x.plain)) {
      for (const name of DEBUG_SECTIONS) {
        const packed = withFile(f.path, (read, size) => {
          const s = debugSection(read, size, readElfLayout(read, size), name, 1 << 28);
          return s?.bytes(0, s.size).slice();
        });
        const bare = withFile(f.plain!, (read, size) => {
          const s = readElfLayout(read, size).sections.find((x) => x.name === name);
          return s ? read(s.offset, s.size).slice() : undefined;
        });
        if (!bare) continue;
        expect(packed, `${f.name} ${name}`).toBeDefined();
        expect(Buffer.from(packed!).equals(Buffer.from(bare)), `${f.name} ${name}`).toBe(true);
      }
    }
  });

  test("readelf inflates the zstd sections this test writes to the plain bytes", () => {
    for (const f of fixtures.filter((x) => x.name.startsWith("llc-") && x.name.endsWith("-zstd"))) {
      const hex = (args: string[]) =>
        tool("readelf", args)
          .split("\n")
          .filter((line) => line.startsWith("  0x"));
      const inflated = hex(["-z", "-x", ".debug_line", f.path]);
      expect(inflated.length).toBeGreaterThan(0);
      expect(inflated).toEqual(hex(["-x", ".debug_line", f.plain!]));
    }
  });

  test("a section libdw and readelf cannot inflate is refused, and elfutils names nothing from the file", () => {
    expect(elfutils.names.get(refused)).toBeUndefined();
    expect(() => tool("readelf", ["--debug-dump=line", refused])).not.toThrow();
    expect(tool("readelf", ["--debug-dump=line", refused])).not.toContain("Directory Table");
    expect(() => withFile(refused, (read, size) => readSourceNames(read, size))).toThrow(
      expect.objectContaining({
        name: "DwarfError",
        code: "BAD_COMPRESSION",
        message: ".debug_info: 12 bytes after the end of its zlib stream",
      }),
    );
  });
});

/** Regular files under `root`, recursively, without following links. */
function regularFiles(root: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

const DEBIAN = "/usr/lib/debug";
const debianFiles = existsSync(DEBIAN) ? regularFiles(DEBIAN) : [];

describe.skipIf(missing || debianFiles.length === 0)(
  "the source names of the Debian debug files installed here",
  () => {
    // The two largest and six more picked by DWARF_REAL_SEED (printed); DWARF_REAL_FILES=all for every one.
    const seed = Number(process.env.DWARF_REAL_SEED ?? Math.floor(Math.random() * 2 ** 31));
    let picked: string[] = [];
    let real: Elfutils;
    let realDir: string;

    beforeAll(async () => {
      console.log(`DWARF_REAL_SEED=${seed}`);
      const bySize = [...debianFiles].sort((a, b) => statSync(b).size - statSync(a).size);
      const rest = bySize.slice(2);
      let state = seed;
      const random = () => {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        return state / 2 ** 32;
      };
      picked =
        process.env.DWARF_REAL_FILES === "all"
          ? bySize
          : [
              ...bySize.slice(0, 2),
              ...Array.from({ length: 6 }, () => rest.splice(Math.floor(random() * rest.length), 1)[0]!),
            ];
      realDir = mkdtempSync(join(tmpdir(), "dwarf-debian-"));
      mkdirSync(join(realDir, "files"));
      const copies = picked.map((p, i) => {
        const copy = join(realDir, "files", `${i}.debug`);
        copyFileSync(p, copy);
        return copy;
      });
      real = await startElfutils(join(realDir, "files"), realDir, copies, 600_000);
    }, 660_000);

    afterAll(() => {
      real?.stop();
      if (realDir) rmSync(realDir, { recursive: true, force: true });
    });

    test("are the paths elfutils' debuginfod forms, plus each DWARF 5 table's file 0", () => {
      for (const [i, original] of picked.entries()) {
        const copy = join(realDir, "files", `${i}.debug`);
        const ours = withFile(copy, (read, size) => readSourceNames(read, size));
        const paths = [...ours.sources.keys()];
        const theirs = real.names.get(copy) ?? [];
        expect(ours.problems, original).toEqual([]);
        expect(
          theirs.filter((p) => !paths.includes(p)),
          original,
        ).toEqual([]);
        const tables = [...withFile(copy, (read, size) => [...readDwarfUnits(read, size)])].flatMap((u) =>
          u.lines ? [u.lines] : [],
        );
        const fileZero = new Set(tables.filter((t) => t.version >= 5).map((t) => t.files[0]!.name));
        for (const p of paths.filter((x) => !theirs.includes(x)))
          expect(
            [...fileZero].some((name) => p === name || p.endsWith(`/${name}`)),
            `${original}: ${p}`,
          ).toBe(true);
      }
    });
  },
);
