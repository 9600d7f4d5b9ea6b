// The ELF build-ID reader on synthetic files (ELF32/ELF64 x little/big endian, notes in segments and
// sections, 4- and 8-byte alignment), on yaml2obj fixtures, and through the Node file form.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { type BuildIdInfo, ElfError, type ElfErrorCode, hasElfMagic, readBuildId } from "../src/elf.js";
import { readBuildIdFromFile, readBuildIdFromFileSync } from "../src/node/elf-file.js";
import {
  type ElfSpec,
  ET,
  type NoteAreaSpec,
  type NoteSpec,
  readelfBuildIds,
  readelfMissing,
  writeElf,
} from "./helpers/elf-writer.js";

const dir = mkdtempSync(join(tmpdir(), "elf-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const missing = readelfMissing();

function hexOf(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `n` distinct-looking bytes seeded by `seed`. */
function idBytes(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (seed * 37 + i * 11 + 1) & 0xff);
}

function expectElfError(f: () => unknown, code: ElfErrorCode, message: string | RegExp): void {
  let thrown: unknown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ElfError);
  const error = thrown as ElfError;
  expect(error.name).toBe("ElfError");
  const expected = typeof message === "string" ? message : expect.stringMatching(message);
  expect({ code: error.code, message: error.message }).toEqual({ code, message: expected });
}

interface Case {
  name: string;
  spec: ElfSpec;
  /** The build ID written into the file, or undefined for none. */
  id: string | undefined;
  source?: BuildIdInfo["source"];
}

/** The matrix: class x byte order x where the notes are x alignment, with unrelated and odd notes around the ID. */
function matrix(): Case[] {
  const cases: Case[] = [];
  const placements = ["both", "segment", "section", "segment, no section headers"] as const;
  const lengths = [20, 8, 16, 32, 1, 20, 20, 64];
  let seed = 0;
  for (const elfClass of [32, 64] as const) {
    for (const endian of ["little", "big"] as const) {
      for (const placement of placements) {
        for (const align of [4, 8] as const) {
          seed++;
          const id = idBytes(lengths[seed % lengths.length] ?? 20, seed);
          const notes: NoteSpec[] = [
            { type: 5, desc: idBytes(16, 100 + seed) }, // like NT_GNU_PROPERTY_TYPE_0
            { name: "Go", type: 4, desc: [1, 2, 3] }, // odd name and descriptor lengths: padding matters
            { type: 3, desc: [] }, // an empty build-ID note, skipped
            { type: 3, desc: id },
            { type: 1, desc: [0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0] }, // NT_GNU_ABI_TAG
          ];
          const sectionOnly = placement === "section";
          const area: NoteAreaSpec = {
            notes,
            align,
            in: placement === "both" ? "both" : sectionOnly ? "section" : "segment",
          };
          cases.push({
            name: `elf${elfClass}-${endian}-${placement}-align${align}`,
            spec: {
              elfClass,
              endian,
              type: sectionOnly ? ET.REL : seed % 2 ? ET.DYN : ET.EXEC,
              areas: [area],
              load: !sectionOnly,
              noSections: placement === "segment, no section headers",
            },
            id: hexOf(id),
            source: sectionOnly ? "section" : "program-header",
          });
        }
      }
    }
  }
  return cases;
}

/** Odd layouts, each with the ID readelf and the reader must both find. */
function oddCases(): Case[] {
  const a = idBytes(20, 201);
  const b = idBytes(20, 202);
  return [
    {
      name: "section-addralign-1",
      spec: {
        elfClass: 64,
        endian: "little",
        type: ET.REL,
        load: false,
        areas: [{ notes: [{ desc: a }], in: "section", alignField: 1 }],
      },
      id: hexOf(a),
      source: "section",
    },
    {
      name: "segment-p_align-0",
      spec: {
        elfClass: 32,
        endian: "big",
        areas: [{ notes: [{ name: "Go", type: 4, desc: [9] }, { desc: a }], in: "segment", alignField: 0 }],
      },
      id: hexOf(a),
      source: "program-header",
    },
    {
      name: "notes-beyond-the-first-page",
      spec: { elfClass: 64, endian: "big", tail: 1 << 20, areas: [{ notes: [{ desc: b }], at: 0x11000 }] },
      id: hexOf(b),
      source: "program-header",
    },
    {
      name: "trailing-garbage-after-the-id",
      spec: { elfClass: 64, endian: "little", areas: [{ notes: [{ desc: a }], trailing: [0xde, 0xad, 0xbe] }] },
      id: hexOf(a),
      source: "program-header",
    },
    {
      name: "bad-p_align-segment-skipped-for-a-section",
      spec: {
        elfClass: 64,
        endian: "big",
        areas: [
          { notes: [{ desc: a }], in: "segment", alignField: 16 },
          { notes: [{ desc: b }], in: "section" },
        ],
      },
      id: hexOf(b),
      source: "section",
    },
    {
      name: "gnu-note-of-another-type-then-a-core-note-of-type-3",
      spec: {
        elfClass: 32,
        endian: "little",
        areas: [
          {
            notes: [
              { type: 1, desc: a },
              { name: "CORE", type: 3, desc: b },
            ],
          },
        ],
      },
      id: undefined,
    },
    {
      name: "core-file-with-a-gnu-build-id-note",
      spec: {
        elfClass: 64,
        endian: "little",
        type: ET.CORE,
        load: false,
        noSections: true,
        areas: [
          {
            notes: [
              { name: "CORE", type: 1, desc: idBytes(336, 3) },
              { desc: b },
              { name: "LINUX", type: 0x202, desc: idBytes(512, 4) },
            ],
          },
        ],
      },
      id: hexOf(b),
      source: "program-header",
    },
  ];
}

const cases = [...matrix(), ...oddCases()];
const paths = new Map(
  cases.map((c) => {
    const path = join(dir, `${c.name}.elf`);
    writeFileSync(path, writeElf(c.spec).bytes);
    return [c.name, path] as const;
  }),
);

/** The ID read from bytes, or from a file both asynchronously and synchronously (which must agree). */
async function ours(file: string | Uint8Array): Promise<string | undefined> {
  const noId = (e: unknown) => {
    if (e instanceof ElfError && e.code === "NO_BUILD_ID") return undefined;
    throw e;
  };
  if (typeof file !== "string") {
    try {
      return readBuildId(file).buildId;
    } catch (e) {
      return noId(e);
    }
  }
  const fromAsync = await readBuildIdFromFile(file).then((r) => r.buildId, noId);
  let fromSync: string | undefined;
  try {
    fromSync = readBuildIdFromFileSync(file).buildId;
  } catch (e) {
    fromSync = noId(e);
  }
  expect(fromSync).toBe(fromAsync);
  return fromAsync;
}

describe("synthetic ELF files", () => {
  test.each(cases)("$name: the ID written is the ID read, from bytes and from the file", async (c) => {
    const path = paths.get(c.name) as string;
    const bytes = readFileSync(path);
    expect(await ours(bytes)).toBe(c.id);
    expect(await ours(path)).toBe(c.id);
    if (c.id !== undefined) {
      const info = readBuildId(bytes);
      expect(info.source).toBe(c.source);
      expect(info.elfClass).toBe(c.spec.elfClass);
      expect(info.endian).toBe(c.spec.endian);
      expect(info.length).toBe(c.id.length / 2);
      expect(info.fitsKernel).toBe(c.id.length / 2 <= 20);
      expect(hexOf([...bytes.subarray(info.offset, info.offset + info.length)])).toBe(c.id);
    }
  });

  test.skipIf(missing !== undefined)(
    `GNU readelf -n reads the same IDs${missing ? ` (skipped: ${missing})` : ""}`,
    async () => {
      const files = [...paths.values()];
      const readelf = await readelfBuildIds(files);
      const mismatches = cases.filter((c) => readelf.get(paths.get(c.name) as string) !== c.id).map((c) => c.name);
      expect(mismatches).toEqual([]);
      console.log(`elf: ${files.length} synthetic files agree with readelf -n`);
    },
  );
});

describe("what the reader reports", () => {
  const id = idBytes(20, 7);
  const elf = (spec: Partial<ElfSpec>) =>
    writeElf({ elfClass: 64, endian: "little", areas: [{ notes: [{ desc: id }] }], ...spec }).bytes;

  test("header fields: class, byte order, e_type, e_machine", () => {
    expect(readBuildId(elf({ type: ET.EXEC, machine: 183 }))).toMatchObject({
      elfClass: 64,
      endian: "little",
      type: "EXEC",
      machine: 183,
    });
    expect(readBuildId(elf({ elfClass: 32, endian: "big", type: ET.DYN, machine: 8 }))).toMatchObject({
      elfClass: 32,
      endian: "big",
      type: "DYN",
      machine: 8,
    });
  });

  test("the ID bytes are a copy that does not hold on to the input", () => {
    const bytes = elf({});
    const info = readBuildId(bytes);
    expect(info.bytes.buffer).not.toBe(bytes.buffer);
    expect(info.bytes.byteLength).toBe(20);
    expect(info.buildId).toBe(hexOf(id));
  });

  test("a PT_NOTE build ID wins over a different one in a section (the kernel's order)", () => {
    const other = idBytes(20, 8);
    const bytes = elf({
      areas: [
        { notes: [{ desc: id }], in: "segment" },
        { notes: [{ desc: other }], in: "section" },
      ],
    });
    expect(readBuildId(bytes)).toMatchObject({ buildId: hexOf(id), source: "program-header" });
  });

  test("sections are searched when PT_NOTE has no build ID", () => {
    const bytes = elf({
      areas: [
        { notes: [{ type: 1, desc: [1, 2, 3, 4] }], in: "segment" },
        { notes: [{ desc: id }], in: "section" },
      ],
    });
    expect(readBuildId(bytes)).toMatchObject({ buildId: hexOf(id), source: "section" });
  });

  test("a note named GNU without its NUL, or GNUX, is not a build ID", () => {
    expectElfError(
      () => readBuildId(elf({ areas: [{ notes: [{ desc: id, namesz: 3 }] }] })),
      "NO_BUILD_ID",
      /^no NT_GNU_BUILD_ID note in 2 note areas$/,
    );
    expectElfError(
      () => readBuildId(elf({ areas: [{ notes: [{ name: "GNUX", desc: id }] }] })),
      "NO_BUILD_ID",
      /no NT_GNU_BUILD_ID/,
    );
  });

  test("a core file without a build-ID note says where core build IDs are", () => {
    const core = elf({
      type: ET.CORE,
      load: false,
      noSections: true,
      areas: [{ notes: [{ name: "CORE", type: 1, desc: idBytes(40, 1) }] }],
    });
    expectElfError(
      () => readBuildId(core),
      "NO_BUILD_ID",
      "no NT_GNU_BUILD_ID note in 1 note area (a core file's build IDs are in the files it maps, not in its own notes)",
    );
  });
});

describe("errors name the bad value", () => {
  const base = () => writeElf({ elfClass: 64, endian: "little", areas: [{ notes: [{ desc: idBytes(20, 9) }] }] });
  const patched = (at: number, values: number[]) => {
    const image = base();
    image.bytes.set(values, at);
    return image.bytes;
  };

  test("not ELF", () => {
    expectElfError(
      () => readBuildId(new TextEncoder().encode("#!/bin/sh\n")),
      "NOT_ELF",
      "not an ELF file: it starts with 23 21 2f 62, not 7f 45 4c 46",
    );
    expectElfError(() => readBuildId(new Uint8Array()), "NOT_ELF", "not an ELF file: it is empty");
    expectElfError(
      () => readBuildId(Uint8Array.of(0x7f, 0x46)),
      "NOT_ELF",
      "not an ELF file: it starts with 7f 46, not 7f 45 4c 46",
    );
  });

  test("hasElfMagic is the reader's first test: true exactly where readBuildId gets past NOT_ELF", () => {
    const elf = base().bytes;
    expect(hasElfMagic(elf)).toBe(true);
    expect(hasElfMagic(elf.subarray(0, 4))).toBe(true);
    for (let i = 0; i < 4; i++) {
      const bent = elf.slice();
      bent[i]! ^= 0x20;
      expect(hasElfMagic(bent)).toBe(false);
      expectElfError(() => readBuildId(bent), "NOT_ELF", /^not an ELF file: it starts with /);
    }
    expect(hasElfMagic(elf.subarray(0, 3))).toBe(false);
    expect(hasElfMagic(new Uint8Array())).toBe(false);
  });

  test("truncated header", () => {
    expectElfError(
      () => readBuildId(base().bytes.subarray(0, 3)),
      "TRUNCATED",
      "the file has 3 bytes, too few for an ELF header",
    );
    expectElfError(
      () => readBuildId(base().bytes.subarray(0, 40)),
      "TRUNCATED",
      "the file has 40 bytes, fewer than the 64-byte ELF64 header",
    );
  });

  test("bad identification and type", () => {
    expectElfError(
      () => readBuildId(patched(4, [3])),
      "BAD_HEADER",
      "EI_CLASS is 3, not 1 (ELFCLASS32) or 2 (ELFCLASS64)",
    );
    expectElfError(
      () => readBuildId(patched(5, [0])),
      "BAD_HEADER",
      "EI_DATA is 0, not 1 (little-endian) or 2 (big-endian)",
    );
    expectElfError(
      () => readBuildId(patched(16, [0, 0])),
      "BAD_HEADER",
      "e_type is 0x0, not ET_REL, ET_EXEC, ET_DYN or ET_CORE",
    );
  });

  test("a 64-bit offset past 2^53 is rejected, not rounded", () => {
    const image = base();
    const view = new DataView(image.bytes.buffer);
    const phdr = image.phoff + 56; // the PT_NOTE, after the PT_LOAD
    view.setBigUint64(phdr + 8, 0xffff_ffff_ffff_fff0n, true);
    view.setUint16(60, 0, true); // no sections to fall back to
    expectElfError(
      () => readBuildId(image.bytes),
      "TRUNCATED",
      /^PT_NOTE program header 1 at ≥ 2\^53 \(0x24 bytes\) runs past the end of the file \(0x[0-9a-f]+ bytes\)$/,
    );
  });

  test("a bad note alignment with nothing else to read", () => {
    const bytes = writeElf({
      elfClass: 32,
      endian: "big",
      noSections: true,
      areas: [{ notes: [{ desc: [1] }], alignField: 16 }],
    }).bytes;
    expectElfError(
      () => readBuildId(bytes),
      "BAD_NOTE",
      "PT_NOTE program header 1 has alignment 16; notes are aligned to 4 or 8",
    );
  });

  test("a note running past its area", () => {
    const bytes = writeElf({
      elfClass: 64,
      endian: "little",
      noSections: true,
      areas: [{ notes: [{ desc: [1, 2, 3, 4], descsz: 0x1000 }] }],
    }).bytes;
    expectElfError(
      () => readBuildId(bytes),
      "BAD_NOTE",
      /^PT_NOTE program header 1: the note at 0x[0-9a-f]+ \(namesz 4, descsz 4096\) runs past the area's end at 0x[0-9a-f]+$/,
    );
  });

  test("bad arguments are programming errors, not ElfErrors", async () => {
    const bytes = base().bytes;
    expect(() => readBuildId("x" as unknown as Uint8Array)).toThrow(
      new TypeError('bytes must be a Uint8Array, got "x"'),
    );
    expect(() => readBuildId(bytes, { limits: { maxNotes: -1 } })).toThrow(
      new RangeError("limits.maxNotes must be an integer >= 0, got -1"),
    );
    expect(() => readBuildId(bytes, { limits: { maxSections: 1.5 } })).toThrow(
      new RangeError("limits.maxSections must be an integer >= 0, got 1.5"),
    );
    expect(() => readBuildId(bytes, { limits: { maxNotes: "9" as unknown as number } })).toThrow(
      new TypeError('limits.maxNotes must be an integer >= 0, got "9"'),
    );
    await expect(readBuildIdFromFile(paths.get("segment-p_align-0") as string, { size: -5 })).rejects.toThrow(
      new RangeError("size must be an integer >= 0, got -5"),
    );
  });

  test("limits", () => {
    const notes = [{ type: 1, desc: [0] }, { type: 1, desc: [0] }, { desc: idBytes(40, 1) }];
    const bytes = writeElf({ elfClass: 64, endian: "little", areas: [{ notes }] }).bytes;
    expect(readBuildId(bytes).length).toBe(40);
    expectElfError(() => readBuildId(bytes, { limits: { maxNotes: 2 } }), "LIMIT", "more than 2 notes");
    expectElfError(
      () => readBuildId(bytes, { limits: { maxBuildIdLength: 32 } }),
      "LIMIT",
      /^the build ID at 0x[0-9a-f]+ is 40 bytes, over the limit of 32$/,
    );
    expectElfError(
      () => readBuildId(bytes, { limits: { maxProgramHeaders: 1 } }),
      "LIMIT",
      "2 program headers exceed the limit of 1",
    );
  });
});

describe("yaml2obj fixtures", () => {
  const fixtures = new URL("./fixtures/elf/", import.meta.url).pathname;
  const sources = readdirSync(fixtures).filter((f) => f.endsWith(".yaml"));
  /** The ID a fixture's YAML declares in its `# build-id:` line (undefined for `none`). */
  const declared = (yaml: string) => {
    const m = /^# build-id: ([0-9a-f]+|none)$/m.exec(readFileSync(join(fixtures, yaml), "utf8"));
    if (!m) throw new Error(`${yaml} has no "# build-id:" line`);
    return m[1] === "none" ? undefined : m[1];
  };

  test.each(sources)("%s: the reader finds the declared ID", async (yaml) => {
    const elf = join(fixtures, yaml.replace(/\.yaml$/, ".elf"));
    expect(await ours(readFileSync(elf))).toBe(declared(yaml));
    expect(await ours(elf)).toBe(declared(yaml));
  });

  test.skipIf(missing !== undefined)("GNU readelf -n finds the declared IDs too", async () => {
    const readelf = await readelfBuildIds(sources.map((y) => join(fixtures, y.replace(/\.yaml$/, ".elf"))));
    for (const yaml of sources)
      expect(readelf.get(join(fixtures, yaml.replace(/\.yaml$/, ".elf"))), yaml).toBe(declared(yaml));
  });

  const yaml2obj = "/usr/lib/llvm-14/bin/yaml2obj";
  const noYaml2obj = spawnSync(yaml2obj, ["--version"]).error !== undefined;
  test.skipIf(noYaml2obj)("the committed .elf files are what scripts/make-elf-fixtures.sh makes", () => {
    for (const yaml of sources) {
      const out = join(dir, yaml.replace(/\.yaml$/, ".elf"));
      expect(spawnSync(yaml2obj, [join(fixtures, yaml), "-o", out]).status, yaml).toBe(0);
      expect(
        Buffer.compare(readFileSync(out), readFileSync(join(fixtures, yaml.replace(/\.yaml$/, ".elf")))),
        yaml,
      ).toBe(0);
    }
  });
});

/** A real file handle whose reads and stats are recorded. */
async function recordingHandle(path: string) {
  const handle = await open(path, "r");
  const reads: { position: number; bytes: number }[] = [];
  let stats = 0;
  const recorded = new Proxy(handle, {
    get(target, prop) {
      if (prop === "read") {
        return async (buffer: Uint8Array, offset: number, length: number, position: number) => {
          const r = await target.read(buffer, offset, length, position);
          reads.push({ position, bytes: r.bytesRead });
          return r;
        };
      }
      if (prop === "stat") {
        stats++;
        return () => target.stat();
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as FileHandle;
  return { recorded, handle, reads, stats: () => stats, bytesRead: () => reads.reduce((n, r) => n + r.bytes, 0) };
}

describe("the Node file form reads only the ranges it needs", () => {
  test("Node's own binary: one page, not the file", async () => {
    const r = await recordingHandle(process.execPath);
    try {
      const info = await readBuildIdFromFile(r.recorded);
      const size = (await r.handle.stat()).size;
      expect(info.buildId).toBe(readBuildId(readFileSync(process.execPath)).buildId);
      expect(r.bytesRead()).toBeLessThanOrEqual(2 * 4096);
      expect(r.bytesRead() * 1000).toBeLessThan(size);
      expect(r.stats()).toBe(1);
      expect(r.handle.fd).toBeGreaterThan(0); // a handle passed in is left open
    } finally {
      await r.handle.close();
    }
  });

  test("notes deep in a large file, and a section table at its end", async () => {
    const id = idBytes(20, 11);
    const image = writeElf({
      elfClass: 64,
      endian: "big",
      type: ET.REL,
      load: false,
      areas: [{ notes: [{ desc: id }], in: "section", at: 8 << 20 }],
      tail: 4 << 20,
    });
    const path = join(dir, "deep.elf");
    writeFileSync(path, image.bytes);
    const r = await recordingHandle(path);
    try {
      const info = await readBuildIdFromFile(r.recorded, { size: image.bytes.length });
      expect(info).toMatchObject({ buildId: hexOf(id), source: "section" });
      expect(r.stats()).toBe(0); // the size was given
      expect(r.reads.map((x) => x.position)).toEqual([0, image.shoff, image.areas[0]?.offset]);
      expect(r.bytesRead()).toBeLessThanOrEqual(3 * 4096);
    } finally {
      await r.handle.close();
    }
  });

  test("errors carry the path; file-system errors pass through", async () => {
    const path = join(dir, "script.sh");
    writeFileSync(path, "#!/bin/sh\necho hi\n");
    await expect(readBuildIdFromFile(path)).rejects.toMatchObject({
      name: "ElfError",
      code: "NOT_ELF",
      message: `${path}: not an ELF file: it starts with 23 21 2f 62, not 7f 45 4c 46`,
    });
    await expect(readBuildIdFromFile(join(dir, "absent"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(() => readBuildIdFromFileSync(path)).toThrow(
      `${path}: not an ELF file: it starts with 23 21 2f 62, not 7f 45 4c 46`,
    );
    expect(() => readBuildIdFromFileSync(join(dir, "absent"))).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });

  test("a file that shrank below the size given", async () => {
    const full = readFileSync(paths.get("notes-beyond-the-first-page") as string);
    const path = join(dir, "shrunk.elf");
    writeFileSync(path, full.subarray(0, 0x11000 + 8)); // cut inside the note header
    const message = `${path}: read 8 of 12 bytes at 0x11000: the file shrank below its size of 0x${full.length.toString(16)} bytes`;
    await expect(readBuildIdFromFile(path, { size: full.length })).rejects.toMatchObject({
      code: "TRUNCATED",
      message,
    });
    expect(() => readBuildIdFromFileSync(path, { size: full.length })).toThrow(message);
  });
});
