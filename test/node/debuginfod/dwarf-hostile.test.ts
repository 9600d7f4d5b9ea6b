// Hostile debug files: each bound of the DWARF source-name reader reached with its typed error, bad
// compressed sections refused before they allocate, and a property over mutated .debug_line,
// .debug_info and .debug_abbrev bytes (seed printed, DWARF_FUZZ_SEED to replay, FUZZ_RUNS for more).
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ElfError } from "../../../src/elf.js";
import {
  DwarfError,
  type DwarfLimits,
  type DwarfReadOptions,
  readDwarfUnits,
  readSourceNames,
} from "../../../src/node/debuginfod/dwarf-lines.js";
import { fdReader } from "../../../src/node/debuginfod/reads.js";
import { readElfLayout } from "../../../src/node/debuginfod/sections.js";
import { compressSections, have, replaceSection, tool } from "./dwarf-fixtures.js";

const missing = !have("gcc", "zstd");
let dir: string;
let five: Uint8Array;
let four: Uint8Array;

const reader = (bytes: Uint8Array) => (offset: number, length: number) => bytes.subarray(offset, offset + length);
const names = (bytes: Uint8Array, options?: DwarfReadOptions) => readSourceNames(reader(bytes), bytes.length, options);
const limits = (l: Partial<DwarfLimits>): DwarfReadOptions => ({ limits: l });

function section(bytes: Uint8Array, name: string) {
  const s = readElfLayout(reader(bytes), bytes.length).sections.find((x) => x.name === name);
  if (!s) throw new Error(`no ${name}`);
  return s;
}

/** The error `call` throws. */
function thrown(call: () => unknown): Error {
  try {
    call();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error");
}

beforeAll(() => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), "dwarf-hostile-"));
  const sources = ["a.c", "b.c", "c.c"].map((name, i) => {
    const path = join(dir, name);
    writeFileSync(
      path,
      `#include <stddef.h>\n#include <stdint.h>\nint f${i}(int x) { return x + (int)sizeof(size_t) + INT8_MAX; }\n`,
    );
    return path;
  });
  writeFileSync(join(dir, "main.c"), "int main(void) { return 0; }\n");
  for (const [version, out] of [
    [5, "five"],
    [4, "four"],
  ] as const) {
    tool("gcc", ["-g", `-gdwarf-${version}`, "-O0", ...sources, join(dir, "main.c"), "-o", join(dir, out)], dir);
  }
  five = new Uint8Array(readFileSync(join(dir, "five")));
  four = new Uint8Array(readFileSync(join(dir, "four")));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing)("bounds", () => {
  test("DW1 a file of four units with more than maxUnits: LIMIT", () => {
    expect(names(five).units).toBe(4);
    const error = thrown(() => names(five, limits({ maxUnits: 3 })));
    expect(error).toBeInstanceOf(DwarfError);
    expect(error).toMatchObject({ code: "LIMIT", message: ".debug_info holds more than 3 units" });
    expect(names(five, limits({ maxUnits: 4 })).units).toBe(4);
  });

  test("DW2 a line table with more files than maxFilesPerUnit: LIMIT, in DWARF 5 from the count, in 4 as they are read", () => {
    const tables = [...readDwarfUnits(reader(five), five.length)].map((u) => u.lines!);
    const most = Math.max(...tables.map((t) => t.files.length));
    const first = tables.find((t) => t.directories.length >= most || t.files.length >= most)!;
    const what = first.directories.length >= most ? "directory" : "file name";
    const count = what === "directory" ? first.directories.length : first.files.length;
    expect(thrown(() => names(five, limits({ maxFilesPerUnit: most - 1 })))).toMatchObject({
      code: "LIMIT",
      message: `a line table lists ${count} ${what} entries, more than the limit of ${most - 1}`,
    });
    expect(
      names(five, limits({ maxFilesPerUnit: Math.max(most, ...tables.map((t) => t.directories.length)) })).units,
    ).toBe(4);
    const older = [...readDwarfUnits(reader(four), four.length)].map((u) => u.lines!);
    const bound = Math.max(...older.map((t) => t.files.length)) - 1;
    const hit = older.find((t) => t.directories.length > bound || t.files.length > bound)!;
    expect(thrown(() => names(four, limits({ maxFilesPerUnit: bound })))).toMatchObject({
      code: "LIMIT",
      message: `a line table lists more than ${bound} ${hit.directories.length > bound ? "directories" : "files"}`,
    });
  });

  test("DW3 more file entries in all than maxFileEntries, more paths than maxNames: LIMIT", () => {
    expect(thrown(() => names(four, limits({ maxFileEntries: 5 })))).toMatchObject({
      code: "LIMIT",
      message: "line tables list more than 5 entries in all",
    });
    const count = names(five).sources.size;
    expect(thrown(() => names(five, limits({ maxNames: count - 1 })))).toMatchObject({
      code: "LIMIT",
      message: `the DWARF names more than ${count - 1} source paths`,
    });
    expect(names(five, limits({ maxNames: count })).sources.size).toBe(count);
  });

  test("DW3 units naming codes their abbreviation table lacks: LIMIT once the tables are walked four times over", () => {
    const abbrev = section(five, ".debug_abbrev");
    // A table of 65,536 abbreviations after the file's own, and 64 units whose first DIEs name codes from 70,000 on, none in it.
    const entries = 65_536;
    const table = new Uint8Array(entries * 6 + 1);
    for (let i = 0; i < entries; i++) table.set([0x80 | ((i + 1) & 0x7f), ((i + 1) >> 7) & 0x7f, 0x11, 0, 0, 0], i * 6);
    const tableAt = abbrev.size;
    const bigAbbrev = new Uint8Array(abbrev.size + table.length);
    bigAbbrev.set(five.subarray(abbrev.offset, abbrev.offset + abbrev.size));
    bigAbbrev.set(table, tableAt);
    const units = new Uint8Array(64 * 14);
    const v = new DataView(units.buffer);
    for (let u = 0; u < 64; u++) {
      v.setUint32(u * 14, 10, true);
      v.setUint16(u * 14 + 4, 4, true);
      v.setUint32(u * 14 + 6, tableAt, true);
      const code = 70_000 + u;
      units.set([8, 0x80 | (code & 0x7f), 0x80 | ((code >> 7) & 0x7f), code >> 14], u * 14 + 10);
    }
    const out = replaceSection(replaceSection(five, ".debug_abbrev", bigAbbrev), ".debug_info", units);
    const budget = 4 * bigAbbrev.length + (1 << 20);
    expect(thrown(() => names(out))).toMatchObject({
      code: "LIMIT",
      message: `abbreviation tables walked past ${budget} bytes, four times .debug_abbrev`,
    });
    const one = replaceSection(replaceSection(five, ".debug_abbrev", bigAbbrev), ".debug_info", units.subarray(0, 14));
    expect(names(one).problems).toEqual([
      {
        unit: 0,
        reason: `abbreviation 70000 is not in the table at 0x${tableAt.toString(16)}`,
      },
    ]);
  });

  test("DW4 a limit that is not an integer >= 0: RangeError naming it", () => {
    expect(thrown(() => names(five, limits({ maxUnits: -1 })))).toMatchObject({
      name: "RangeError",
      message: "limits.maxUnits must be an integer >= 0, got -1",
    });
  });
});

describe.skipIf(missing)("compressed sections", () => {
  const packed = (how: "zlib" | "zstd") =>
    compressSections(five, [".debug_info", ".debug_line"], how, join(dir, "section"));

  /** `bytes` with the `ch_size` of `name` (an Elf64_Chdr, little-endian) set to `size`. */
  function withSize(bytes: Uint8Array, name: string, size: bigint): Uint8Array {
    const out = new Uint8Array(bytes);
    new DataView(out.buffer).setBigUint64(section(out, name).offset + 8, size, true);
    return out;
  }

  test("read as the plain file", () => {
    const plain = [...names(five).sources.keys()];
    expect(plain.length).toBeGreaterThan(0);
    for (const how of ["zlib", "zstd"] as const) expect([...names(packed(how)).sources.keys()]).toEqual(plain);
  });

  test("DW5 past maxSectionBytes: LIMIT from the header, before anything is inflated", () => {
    const size = section(five, ".debug_info").size;
    for (const how of ["zlib", "zstd"] as const) {
      expect(thrown(() => names(packed(how), limits({ maxSectionBytes: size - 1 })))).toMatchObject({
        code: "LIMIT",
        message: `.debug_info inflates to ${size} bytes, more than the limit of ${size - 1}`,
      });
      const bomb = withSize(packed(how), ".debug_info", 1n << 62n);
      expect(thrown(() => names(bomb))).toMatchObject({
        code: "LIMIT",
        message: `.debug_info inflates to ${1n << 62n} bytes, more than the limit of 268435456`,
      });
    }
  });

  test("DW7 a stream that inflates to more or less than its header states: BAD_COMPRESSION", () => {
    const size = BigInt(section(five, ".debug_info").size);
    for (const how of ["zlib", "zstd"] as const) {
      expect(thrown(() => names(withSize(packed(how), ".debug_info", size - 1n)))).toMatchObject({
        code: "BAD_COMPRESSION",
        message: `.debug_info inflates past the ${size - 1n} bytes its header states`,
      });
      expect(thrown(() => names(withSize(packed(how), ".debug_info", size + 1n)))).toMatchObject({
        code: "BAD_COMPRESSION",
        message: `.debug_info inflates to ${size} bytes, not the ${size + 1n} its header states`,
      });
    }
  });

  test("DW6 a zstd frame whose window is 1 GiB: LIMIT before fzstd allocates it", () => {
    const out = new Uint8Array(packed("zstd"));
    const frame = section(out, ".debug_info").offset + 24;
    expect(new DataView(out.buffer).getUint32(frame, true)).toBe(0xfd2fb528);
    // Frame_Header_Descriptor: no content size, not single-segment; Window_Descriptor: exponent 20, 2^30 bytes.
    out.set([0x00, 20 << 3], frame + 4);
    const bound = Math.max(section(five, ".debug_info").size, 1 << 20);
    expect(thrown(() => names(out))).toMatchObject({
      code: "LIMIT",
      message: `.debug_info: a zstd window of ${2 ** 30} bytes, more than the ${bound} the section inflates to`,
    });
  });

  test("DW7 corrupt data, a .zdebug section without its magic: BAD_COMPRESSION", () => {
    const zlib = new Uint8Array(packed("zlib"));
    const info = section(zlib, ".debug_info");
    zlib.fill(0xff, info.offset + 24, info.offset + 40);
    expect(thrown(() => names(zlib))).toMatchObject({ name: "DwarfError", code: "BAD_COMPRESSION" });
    tool("gcc", ["-g", "-gz=zlib-gnu", "-o", join(dir, "z"), join(dir, "main.c")]);
    const zdebug = new Uint8Array(readFileSync(join(dir, "z")));
    zdebug.set([0x5a, 0x4c, 0x49, 0x43], section(zdebug, ".zdebug_info").offset);
    expect(thrown(() => names(zdebug))).toMatchObject({
      code: "BAD_COMPRESSION",
      message: '.zdebug_info does not start with "ZLIB" and an 8-byte size',
    });
  });

  test("DW8 a compression type other than zlib and zstd: UNSUPPORTED", () => {
    const other = new Uint8Array(packed("zlib"));
    new DataView(other.buffer).setUint32(section(other, ".debug_info").offset, 3, true);
    expect(thrown(() => names(other))).toMatchObject({
      code: "UNSUPPORTED",
      message: ".debug_info is compressed with ch_type 3, neither zlib (1) nor zstd (2)",
    });
  });

  test("DW9 a section that runs past the end of the file: TRUNCATED", () => {
    const out = new Uint8Array(five);
    const line = section(out, ".debug_line");
    const { classLayout: L } = readElfLayout(reader(out), out.length);
    const v = new DataView(out.buffer);
    const shoff = Number(v.getBigUint64(L.eShoff, true));
    const index = readElfLayout(reader(out), out.length).sections.findIndex((x) => x.name === ".debug_line");
    v.setBigUint64(shoff + index * L.shdrSize + L.shSize, BigInt(out.length), true);
    expect(thrown(() => names(out))).toMatchObject({
      code: "TRUNCATED",
      message: `.debug_line at 0x${line.offset.toString(16)} runs past the end of the file`,
    });
  });
});

describe.skipIf(missing)("malformed units", () => {
  /** `bytes` with `at`, an offset into the named section, overwritten by `data`. */
  function patched(bytes: Uint8Array, name: string, at: number, data: number[]): Uint8Array {
    const out = new Uint8Array(bytes);
    out.set(data, section(out, name).offset + at);
    return out;
  }

  test("DW10 a line table of another version takes that unit out and no other", () => {
    const units = [...readDwarfUnits(reader(five), five.length)];
    const second = units[1]!.lines!.offset;
    const versionAt = second + 4;
    const bad = patched(five, ".debug_line", versionAt, [9, 0]);
    const read = names(bad);
    expect(read.problems).toEqual([{ unit: units[1]!.offset, reason: "line table version 9" }]);
    const others = units.filter((_, i) => i !== 1).flatMap((u) => u.lines!.files.map((f) => f.name));
    for (const name of others) expect([...read.sources.keys()].some((p) => p.endsWith(`/${name}`))).toBe(true);
  });

  test("DW11 a unit of another version is skipped with its reason; a unit length past .debug_info ends the walk", () => {
    const version = names(patched(five, ".debug_info", 4, [1, 0]));
    expect(version.units).toBe(4);
    expect(version.problems).toEqual([{ unit: 0, reason: "unit version 1" }]);
    const size = section(five, ".debug_info").size;
    const long = names(patched(five, ".debug_info", 0, [0xef, 0xff, 0xff, 0x0f]));
    expect(long.units).toBe(1);
    expect(long.problems).toEqual([
      { unit: 0, reason: `a unit of ${0x0fffffef} bytes runs past .debug_info's ${size}` },
    ]);
    expect(long.sources.size).toBe(0);
  });
});

/** Offsets into `bytes` of each of the named sections, for the mutations. */
function ranges(bytes: Uint8Array, namesOf: string[]) {
  return namesOf.map((name) => section(bytes, name));
}

describe.skipIf(missing)("mutated bytes", () => {
  const seed = Number(process.env.DWARF_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const runs = Number(process.env.FUZZ_RUNS ?? 300);

  test("in one line table: that unit may yield less, the others yield the same, nothing throws", () => {
    console.log(`DWARF_FUZZ_SEED=${seed} FUZZ_RUNS=${runs}`);
    const units = [...readDwarfUnits(reader(five), five.length)];
    const line = section(five, ".debug_line");
    const offsets = units.map((u) => u.lines!.offset);
    const ends = offsets.map((_, i) => offsets[i + 1] ?? line.size);
    fc.assert(
      fc.property(
        fc.nat(units.length - 1),
        fc.array(
          fc.tuple(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 0, max: 255 })),
          { minLength: 1, maxLength: 8 },
        ),
        (k, edits) => {
          const out = new Uint8Array(five);
          for (const [where, value] of edits)
            out[line.offset + offsets[k]! + Math.floor(where * (ends[k]! - offsets[k]!))] = value;
          const after = [...readDwarfUnits(reader(out), out.length)];
          for (const [i, unit] of after.entries()) if (i !== k) expect(unit).toEqual(units[i]);
          names(out);
        },
      ),
      { seed, numRuns: runs },
    );
  });

  test("anywhere in .debug_info, .debug_abbrev, .debug_line or .debug_line_str: an answer or a DwarfError, never another error", () => {
    const targets = ranges(five, [".debug_info", ".debug_abbrev", ".debug_line", ".debug_line_str"]);
    fc.assert(
      fc.property(
        fc.nat(targets.length - 1),
        fc.array(
          fc.tuple(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), fc.integer({ min: 0, max: 255 })),
          { minLength: 1, maxLength: 16 },
        ),
        (t, edits) => {
          const s = targets[t]!;
          const out = new Uint8Array(five);
          for (const [where, value] of edits) out[s.offset + Math.floor(where * s.size)] = value;
          try {
            const found = names(out);
            for (const path of found.sources.keys()) expect(path).not.toContain("\ufffd");
          } catch (error) {
            if (!(error instanceof DwarfError) && !(error instanceof ElfError)) throw error;
          }
        },
      ),
      { seed: seed + 1, numRuns: runs },
    );
  });
});

describe.skipIf(missing)("through a file", () => {
  test("sections past 8 MiB are read in 64 KiB windows through the file: the same names as from memory", () => {
    const info = section(five, ".debug_info");
    const line = section(five, ".debug_line");
    // A unit of an unknown version fills .debug_info past 9 MiB; .debug_line gains 9 MiB no table points at.
    const pad = 9 << 20;
    const filler = new Uint8Array(pad);
    new DataView(filler.buffer).setUint32(0, pad - 4, true);
    filler.set([9, 0], 4);
    const bigInfo = new Uint8Array(info.size + pad);
    bigInfo.set(five.subarray(info.offset, info.offset + info.size));
    bigInfo.set(filler, info.size);
    const bigLine = new Uint8Array(line.size + pad);
    bigLine.set(five.subarray(line.offset, line.offset + line.size));
    const big = replaceSection(replaceSection(five, ".debug_info", bigInfo), ".debug_line", bigLine);
    const path = join(dir, "big");
    writeFileSync(path, big);
    const fd = openSync(path, "r");
    let reads = 0;
    let largest = 0;
    try {
      const read = fdReader(fd);
      const found = readSourceNames((offset, length) => {
        reads++;
        largest = Math.max(largest, length);
        return read(offset, length);
      }, fstatSync(fd).size);
      expect([...found.sources]).toEqual([...names(five).sources]);
      expect(found.problems).toEqual([{ unit: info.size, reason: "unit version 9" }]);
    } finally {
      closeSync(fd);
    }
    expect(reads).toBeGreaterThan(0);
    expect(largest).toBeLessThan(1 << 20);
  });
});
