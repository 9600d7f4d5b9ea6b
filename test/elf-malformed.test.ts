// Malformed input: every truncation of a real binary's first pages, random byte mutations (fast-check;
// ELF_FUZZ_LONG=1 for a long run), absurd counts and sizes. Each must end in an ElfError or a correct
// answer: never another exception, never a hang.
import { readFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { type BuildIdInfo, ElfError, type ElfRange, parseBuildId, readBuildId } from "../src/elf.js";
import { readBuildIdFromFile } from "../src/node/elf-file.js";
import { type ElfSpec, ET, writeElf } from "./helpers/elf-writer.js";

const LONG = process.env.ELF_FUZZ_LONG === "1";
const REAL = "/usr/bin/true"; // small, present on every Linux system, has a build ID

/** The outcome of one read: the ID's hex, or "CODE: message" for an ElfError; any other exception escapes. */
function outcome(read: () => BuildIdInfo): string {
  try {
    return read().buildId;
  } catch (e) {
    if (e instanceof ElfError) return `${e.code}: ${e.message}`;
    throw e;
  }
}

/** Every range the parser asks for while reading `bytes`. */
function rangesRead(bytes: Uint8Array): ElfRange[] {
  const ranges: ElfRange[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const steps = parseBuildId(bytes.length);
  let step = steps.next({ view, at: 0 });
  while (!step.done) {
    ranges.push(step.value);
    step = steps.next({ view, at: step.value.offset });
  }
  return ranges;
}

/** Checks a result against the bytes it came from: the ID sits in a GNU build-ID note at `offset`. */
function checkConsistent(bytes: Uint8Array, info: BuildIdInfo): void {
  const { offset, length } = info;
  expect(Buffer.from(info.bytes).equals(Buffer.from(bytes.subarray(offset, offset + length)))).toBe(true);
  expect(info.buildId).toBe(Buffer.from(info.bytes).toString("hex"));
  expect(info.fitsKernel).toBe(length <= 20);
  const note = new DataView(bytes.buffer, bytes.byteOffset + offset - 16, 16);
  const le = info.endian === "little";
  expect([note.getUint32(0, le), note.getUint32(4, le), note.getUint32(8, le), note.getUint32(12, false)]).toEqual([
    4,
    length,
    3,
    0x474e5500,
  ]);
}

/** A FileHandle over bytes in memory, so the file form can be fuzzed without touching the disk. */
function memoryHandle(bytes: Uint8Array): FileHandle {
  const handle = {
    async read(buffer: Uint8Array, offset: number, length: number, position: number) {
      const n = Math.max(0, Math.min(length, bytes.length - position));
      buffer.set(bytes.subarray(position, position + n), offset);
      return { bytesRead: n, buffer };
    },
    async stat() {
      return { size: bytes.length };
    },
  };
  return handle as unknown as FileHandle;
}

const realBytes = new Uint8Array(readFileSync(REAL));
const realInfo = readBuildId(realBytes);

describe("truncation", () => {
  test(`${REAL} cut at every offset of its first pages: an ElfError until its note area is whole, then the ID`, () => {
    const idEnd = realInfo.offset + realInfo.length;
    const pages = Math.min(Math.max(2 * 4096, idEnd), realBytes.length);
    const outcomes = Array.from({ length: pages + 1 }, (_, n) => outcome(() => readBuildId(realBytes.subarray(0, n))));
    const firstFound = outcomes.indexOf(realInfo.buildId);
    expect(firstFound).toBeGreaterThanOrEqual(idEnd);
    expect(outcomes.slice(firstFound).every((o) => o === realInfo.buildId)).toBe(true);
    for (const o of outcomes.slice(0, firstFound)) expect(o).toMatch(/^(NOT_ELF|TRUNCATED): /);
    expect(outcomes[3]).toBe("TRUNCATED: the file has 3 bytes, too few for an ELF header");
  });

  test("a big-endian ELF32 fixture cut at every offset, also through the file form", async () => {
    const bytes = new Uint8Array(readFileSync(new URL("./fixtures/elf/elf32-be-exec.elf", import.meta.url)));
    const whole = readBuildId(bytes);
    for (let n = 0; n <= bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      const fromBytes = outcome(() => readBuildId(cut));
      if (n >= whole.offset + whole.length) expect(fromBytes).toBe(whole.buildId);
      else expect(fromBytes).toMatch(/^(NOT_ELF|TRUNCATED|BAD_NOTE|NO_BUILD_ID): /);
      let fromFile: string;
      try {
        fromFile = (await readBuildIdFromFile(memoryHandle(cut))).buildId;
      } catch (e) {
        fromFile = e instanceof ElfError ? `${e.code}: ${e.message}` : String(e);
      }
      expect(fromFile, `cut at ${n}`).toBe(fromBytes);
    }
  });
});

describe("random byte mutations (fast-check)", () => {
  const id = Array.from({ length: 20 }, (_, i) => i * 13);
  const bases: { name: string; bytes: Uint8Array }[] = [
    { name: REAL, bytes: realBytes },
    ...(
      [
        { elfClass: 32, endian: "big", areas: [{ notes: [{ name: "Go", type: 4, desc: [1, 2, 3] }, { desc: id }] }] },
        {
          elfClass: 64,
          endian: "little",
          areas: [{ notes: [{ type: 5, desc: id.slice(0, 16) }, { desc: id }], align: 8 }],
        },
        { elfClass: 64, endian: "big", type: ET.REL, load: false, areas: [{ notes: [{ desc: id }], in: "section" }] },
        {
          elfClass: 32,
          endian: "little",
          type: ET.CORE,
          noSections: true,
          load: false,
          areas: [{ notes: [{ name: "CORE", type: 1, desc: id }, { desc: id }] }],
        },
      ] satisfies ElfSpec[]
    ).map((spec) => ({ name: `synthetic ELF${spec.elfClass} ${spec.endian}`, bytes: writeElf(spec).bytes })),
  ];
  const absurd = [
    [0xff, 0xff, 0xff, 0xff],
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0, 0, 0, 0x80],
    [0x80, 0, 0, 0],
    [0, 0, 0, 0],
    [3, 0, 0, 0],
    [0, 0, 0, 4],
    [0xff, 0xff],
  ];
  const runs = LONG ? 100_000 : 2_500;

  test.each(bases)(`$name: ${runs} mutated copies each end in an ElfError or a consistent ID`, ({ bytes }) => {
    const original = readBuildId(bytes);
    const read = rangesRead(bytes);
    const mutation = fc.record({
      at: fc.oneof(fc.nat({ max: Math.min(bytes.length, 1024) - 1 }), fc.nat({ max: bytes.length - 1 })),
      value: fc.oneof(
        fc.integer({ min: 0, max: 255 }).map((b) => [b]),
        fc.constantFrom(...absurd),
      ),
    });
    let found = 0;
    let failed = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 6 }), (mutations) => {
        const copy = bytes.slice();
        for (const { at, value } of mutations) copy.set(value.slice(0, copy.length - at), at);
        let info: BuildIdInfo | undefined;
        try {
          info = readBuildId(copy);
        } catch (e) {
          if (!(e instanceof ElfError)) throw e;
          expect(e.message.length).toBeGreaterThan(10);
          failed++;
        }
        if (info) {
          found++;
          checkConsistent(copy, info);
        }
        const untouched = mutations.every(({ at, value }) =>
          read.every((r) => at + value.length <= r.offset || at >= r.offset + r.length),
        );
        if (untouched) expect(info?.buildId).toBe(original.buildId);
      }),
      { numRuns: runs, seed: 0x5eed },
    );
    expect(found).toBeGreaterThan(0);
    expect(failed).toBeGreaterThan(0);
  });

  test("the file form gives the same outcome as the bytes form on mutated files", async () => {
    const bytes = bases[1]?.bytes as Uint8Array;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat({ max: bytes.length - 1 }), b: fc.integer({ min: 0, max: 255 }) }), {
          maxLength: 4,
        }),
        async (mutations) => {
          const copy = bytes.slice();
          for (const { at, b } of mutations) copy[at] = b;
          let fromFile: string;
          try {
            fromFile = (await readBuildIdFromFile(memoryHandle(copy))).buildId;
          } catch (e) {
            if (!(e instanceof ElfError)) throw e;
            fromFile = `${e.code}: ${e.message}`;
          }
          expect(fromFile).toBe(outcome(() => readBuildId(copy)));
        },
      ),
      { numRuns: LONG ? 20_000 : 500, seed: 0x5eed },
    );
  });
});

describe("absurd counts and sizes", () => {
  const id = Array.from({ length: 20 }, (_, i) => 255 - i);
  const hexId = Buffer.from(id).toString("hex");
  /** ELF64 little-endian: e_phoff 32, e_shoff 40, e_phentsize 54, e_phnum 56, e_shentsize 58, e_shnum 60. */
  const elf64 = (spec: Partial<ElfSpec> = {}) => {
    const image = writeElf({ elfClass: 64, endian: "little", areas: [{ notes: [{ desc: id }] }], ...spec });
    return { ...image, view: new DataView(image.bytes.buffer) };
  };

  test("PN_XNUM: the program header count comes from section 0's sh_info", () => {
    const { bytes, view, shoff } = elf64({ areas: [{ notes: [{ desc: id }], in: "segment" }] });
    view.setUint16(56, 0xffff, true);
    view.setUint32(shoff + 44, 2, true);
    expect(readBuildId(bytes).buildId).toBe(hexId);
    view.setUint32(shoff + 44, 0xffff_ffff, true);
    expect(outcome(() => readBuildId(bytes))).toBe("LIMIT: 4294967295 program headers exceed the limit of 65536");
  });

  test("e_shnum 0 with a section table: the count comes from section 0's sh_size", () => {
    const { bytes, view, shoff } = elf64({
      type: ET.REL,
      load: false,
      areas: [{ notes: [{ desc: id }], in: "section" }],
    });
    const shnum = view.getUint16(60, true);
    view.setUint16(60, 0, true);
    view.setBigUint64(shoff + 32, BigInt(shnum), true);
    expect(readBuildId(bytes)).toMatchObject({ buildId: hexId, source: "section" });
    view.setBigUint64(shoff + 32, 1n << 40n, true);
    expect(outcome(() => readBuildId(bytes))).toBe("LIMIT: 1099511627776 section headers exceed the limit of 262144");
    view.setBigUint64(shoff + 32, 0xffff_ffff_ffff_ffffn, true);
    expect(outcome(() => readBuildId(bytes))).toBe("LIMIT: ≥ 2^53 section headers exceed the limit of 262144");
  });

  test("a bad program header table falls back to sections, and is reported when there are none", () => {
    const withSections = elf64();
    withSections.view.setUint16(54, 8, true);
    expect(readBuildId(withSections.bytes)).toMatchObject({ buildId: hexId, source: "section" });
    const without = elf64({ noSections: true });
    without.view.setUint16(54, 8, true);
    expect(outcome(() => readBuildId(without.bytes))).toBe(
      "BAD_HEADER: program header entries are 8 bytes, smaller than an ELF64 program header (56)",
    );
    without.view.setUint16(54, 56, true);
    without.view.setBigUint64(32, 0xffff_ffff_ffff_ffffn, true);
    expect(outcome(() => readBuildId(without.bytes))).toMatch(
      /^TRUNCATED: program header table at ≥ 2\^53 \(2 x 56 bytes\) runs past the end of the file \(0x[0-9a-f]+ bytes\)$/,
    );
  });

  test("huge entry sizes and counts that do not fit the file", () => {
    const { bytes, view } = elf64({ noSections: false });
    view.setUint16(58, 0xffff, true);
    view.setUint16(60, 0xfffe, true);
    view.setUint16(56, 0, true);
    expect(outcome(() => readBuildId(bytes))).toMatch(
      /^TRUNCATED: section header table at 0x[0-9a-f]+ \(65534 x 65535 bytes\) runs past the end of the file/,
    );
  });

  test("huge note sizes", () => {
    const image = elf64({ noSections: true });
    const note = image.areas[0]?.notes[0]?.offset as number;
    image.view.setUint32(note, 0xffff_ffff, true);
    expect(outcome(() => readBuildId(image.bytes))).toMatch(
      /^BAD_NOTE: PT_NOTE program header 1: the note at 0x[0-9a-f]+ \(namesz 4294967295, descsz 20\) runs past/,
    );
    image.view.setUint32(note, 4, true);
    image.view.setUint32(note + 4, 0xffff_fff0, true);
    expect(outcome(() => readBuildId(image.bytes))).toMatch(/\(namesz 4, descsz 4294967280\) runs past/);
    image.view.setBigUint64(image.phoff + 56 + 32, 1n << 63n, true); // p_filesz of the PT_NOTE
    expect(outcome(() => readBuildId(image.bytes))).toMatch(
      /^TRUNCATED: PT_NOTE program header 1 at 0x[0-9a-f]+ \(≥ 2\^53 bytes\) runs past the end of the file/,
    );
  });

  test("zero-size notes still advance: a zeroed note area ends, or hits the note limit", () => {
    const small = writeElf({
      elfClass: 32,
      endian: "big",
      noSections: true,
      areas: [{ notes: [], trailing: new Array(1200).fill(0) }],
    }).bytes;
    expect(outcome(() => readBuildId(small))).toBe("NO_BUILD_ID: no NT_GNU_BUILD_ID note in 1 note area");
    const big = writeElf({
      elfClass: 64,
      endian: "little",
      noSections: true,
      areas: [{ notes: [], trailing: new Array(1 << 20).fill(0) }],
    }).bytes;
    expect(outcome(() => readBuildId(big))).toBe("LIMIT: more than 65536 notes");
  });

  test("a note area that overlaps the ELF header is read as notes, harmlessly", () => {
    const { bytes, view, phoff } = elf64({ noSections: true });
    view.setBigUint64(phoff + 56 + 8, 0n, true); // PT_NOTE p_offset = 0
    expect(outcome(() => readBuildId(bytes))).toMatch(/^(BAD_NOTE|NO_BUILD_ID): /);
  });
});
