// Hostile package archives: each ends in a typed ArchiveError naming the archive (and the bound, for
// a LIMIT), within a bounded time, and nothing is written outside the member cache's directory.
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractMember, scanArchive } from "../../../src/node/debuginfod/archive.js";
import { ArchiveError, type ArchiveErrorCode } from "../../../src/node/debuginfod/archive-error.js";
import { ArchiveMemberCache } from "../../../src/node/debuginfod/member-cache.js";
import { arArchive, buildDeb, compress, makeStaged, type Staged, tarArchive, writeDeb } from "./archive-fixtures.js";

let staged: Staged;
let dir: string;
let elf: Buffer;
let elfId: string;

beforeAll(() => {
  staged = makeStaged();
  dir = mkdtempSync(join(tmpdir(), "buildid-hostile-"));
  elf = readFileSync(staged.tree.programs[0]!.executable);
  elfId = staged.tree.programs[0]!.id;
});

afterAll(() => {
  rmSync(staged.tree.dir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

let serial = 0;
function deb(dataName: string, data: Uint8Array): string {
  return writeDeb(join(dir, `h${++serial}.deb`), dataName, data);
}

async function refused(
  promise: Promise<unknown>,
  code: ArchiveErrorCode,
  archive: string,
  message?: RegExp,
): Promise<ArchiveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ArchiveError);
  const e = error as ArchiveError;
  expect({ code: e.code, archive: e.archive }).toEqual({ code, archive });
  expect(e.message.startsWith(`${archive}: `)).toBe(true);
  if (message) expect(e.message).toMatch(message);
  return e;
}

const zeros = (n: number): Uint8Array => new Uint8Array(n);

describe("decompression bombs end in LIMIT naming the archive and the bound", () => {
  const bomb = tarArchive([{ name: "./zeros", data: zeros(64 * 1024 * 1024) }]);
  it.each([
    ["xz", "data.tar.xz"],
    ["zstd", "data.tar.zst"],
    ["gzip", "data.tar.gz"],
  ] as const)("AR5 %s: 64 MiB of zeros, past 1000 bytes per archive byte", async (tool, name) => {
    const packed = compress(tool, bomb, tool === "gzip" ? ["-9"] : ["-19"].slice(tool === "xz" ? 1 : 0));
    const path = deb(name, packed);
    const size = readFileSync(path).length;
    if (64 * 1024 * 1024 <= 1000 * size) {
      await refused(scanArchive(path, { limits: { maxExpandedBytes: 1024 * 1024 } }), "LIMIT", path, /1048576 bytes/);
      return;
    }
    await refused(scanArchive(path), "LIMIT", path, new RegExp(`expands past ${1000 * size} bytes`));
  });

  it("AR5 the total bound holds for an uncompressed payload too", async () => {
    const path = deb("data.tar", tarArchive([{ name: "./a", data: zeros(300_000) }]));
    await refused(scanArchive(path, { limits: { maxExpandedBytes: 100_000 } }), "LIMIT", path, /data\.tar .*100000/);
  });
});

describe("truncated archives are errors, not hangs", () => {
  const tar = (): Buffer => tarArchive([{ name: "./usr/bin/prog", data: elf }]);
  it.each([
    ["xz", "data.tar.xz"],
    ["zstd", "data.tar.zst"],
    ["gzip", "data.tar.gz"],
    ["none", "data.tar"],
  ] as const)("AR4 %s payload cut at a quarter, a half and all but 3 bytes", async (tool, name) => {
    const whole = tool === "none" ? tar() : compress(tool, tar());
    for (const keep of [whole.length >> 2, whole.length >> 1, whole.length - 3]) {
      const path = deb(name, whole.subarray(0, keep));
      const e = await refused(scanArchive(path), "TRUNCATED", path);
      expect(e.message.length).toBeGreaterThan(path.length + 2);
    }
  });

  it("AR4 an ar member that runs past the end of the file", async () => {
    const path = join(dir, "cut-ar.deb");
    const whole = arArchive([
      { name: "debian-binary", data: Buffer.from("2.0\n") },
      { name: "data.tar", data: tarArchive([]) },
    ]);
    writeFileSync(path, whole.subarray(0, whole.length - 100));
    await refused(scanArchive(path), "TRUNCATED", path, /past the end of the file/);
  });

  it("AR4 a .deb from dpkg-deb cut anywhere is an error", async () => {
    const real = buildDeb(staged, join(dir, "real.deb"), "xz");
    const bytes = readFileSync(real);
    for (const keep of [7, 100, bytes.length >> 1, bytes.length - 1]) {
      const path = join(dir, `cut-${keep}.deb`);
      writeFileSync(path, bytes.subarray(0, keep));
      const e = await scanArchive(path).catch((error: unknown) => error);
      expect(e).toBeInstanceOf(ArchiveError);
      expect(["TRUNCATED", "FORMAT"]).toContain((e as ArchiveError).code);
    }
  });
});

describe("names and links from the archive never reach the disk", () => {
  it("AR10 ../ and absolute names, symlinks and hard links: only hashed names in the cache, nothing beside it", async () => {
    const before = readdirSync(dir).sort();
    const path = deb(
      "data.tar.xz",
      compress(
        "xz",
        tarArchive([
          { name: "../../escape", data: elf },
          { name: "./usr/../../escape2", data: elf },
          { name: "/etc/absolute", data: elf },
          { name: "./usr/bin/link", type: "2", linkname: "/etc/passwd" },
          { name: "./usr/bin/hard", type: "1", linkname: "../../escape" },
          { name: "./usr/bin/good", data: elf },
        ]),
      ),
    );
    const scan = await scanArchive(path);
    expect(scan.refusedNames).toBe(2);
    expect(scan.elves.map((e) => e.member)).toEqual(["/etc/absolute", "/usr/bin/good"]);
    expect(scan.elves.every((e) => e.buildId === elfId)).toBe(true);
    const cacheDir = join(dir, "cache");
    const cache = await ArchiveMemberCache.create({ dir: cacheDir });
    for (const e of scan.elves) {
      const fd = await cache.open(path, scan.stamp, e.member, e.size);
      expect(readFileSync(fd).equals(elf)).toBe(true);
    }
    await refused(cache.open(path, scan.stamp, "/../../escape", elf.length), "NO_MEMBER", path);
    await refused(cache.open(path, scan.stamp, "/usr/bin/link", 0), "NO_MEMBER", path);
    expect(readdirSync(cacheDir).every((n) => /^[0-9a-f]{64}$/.test(n))).toBe(true);
    expect(readdirSync(cacheDir)).toHaveLength(2);
    expect(readdirSync(dir).sort()).toEqual([...before, "cache", `h${serial}.deb`].sort());
    await cache.dispose();
  });
});

describe("bounds on members, names, windows and dictionaries", () => {
  it("AR6 more members than maxMembers", async () => {
    const path = deb("data.tar", tarArchive(Array.from({ length: 20 }, (_, i) => ({ name: `./f${i}` }))));
    await refused(scanArchive(path, { limits: { maxMembers: 10 } }), "LIMIT", path, /more than 10 members/);
    expect((await scanArchive(path, { limits: { maxMembers: 20 } })).members).toBe(20);
  });

  it("AR7 a name longer than maxNameBytes (a GNU long name of 5000 bytes)", async () => {
    const path = deb("data.tar", tarArchive([{ name: `./${"n".repeat(4998)}`, data: elf }]));
    await refused(scanArchive(path), "LIMIT", path, /longer than 4096 bytes/);
  });

  it("AR9 a member larger than maxMemberBytes is skipped unread", async () => {
    const path = deb("data.tar", tarArchive([{ name: "./big", data: elf }]));
    const scan = await scanArchive(path, { limits: { maxMemberBytes: elf.length - 1 } });
    expect({ tooLarge: scan.tooLarge, elves: scan.elves.length }).toEqual({ tooLarge: 1, elves: 0 });
  });

  it("a large ELF member is read through a temporary file, with the same answer", async () => {
    const path = deb("data.tar", tarArchive([{ name: "./prog", data: elf }]));
    const spool = mkdtempSync(join(dir, "spool-"));
    const scan = await scanArchive(path, { limits: { maxMemoryMemberBytes: 1024 }, tmpdir: spool });
    expect(scan.elves.map((e) => e.buildId)).toEqual([elfId]);
    expect(readdirSync(spool)).toEqual([]);
  });

  it("AR8 a zstd frame naming a 1 GiB window, before anything is allocated", async () => {
    // Frame header: magic, descriptor 0 (window descriptor follows), window 2^30, then one empty raw last block.
    const frame = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3, 0x01, 0x00, 0x00]);
    const path = deb("data.tar.zst", frame);
    await refused(scanArchive(path), "LIMIT", path, /window of 1073741824 bytes, past the limit of 8388608/);
  });

  it("AR8 a zstd frame of 1-byte blocks under an 8 MiB window (each would cost the decoder an 8 MiB copy)", async () => {
    const tar = tarArchive([{ name: "./z", data: zeros(200_000) }]);
    const blocks = Buffer.alloc(tar.length * 4);
    for (let i = 0; i < tar.length; i++) {
      blocks[i * 4] = (1 << 3) | (i === tar.length - 1 ? 1 : 0); // raw block of 1 byte; the last one ends the frame
      blocks[i * 4 + 3] = tar[i]!;
    }
    const frame = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 13 << 3]), blocks]);
    const path = deb("data.tar.zst", frame);
    await refused(scanArchive(path, { limits: { maxExpandedBytes: 1 } }), "LIMIT", path, /past 1 bytes/);
    await refused(scanArchive(path), "LIMIT", path, /blocks this small/);
  }, 30_000);

  it("AR8 an xz stream whose dictionary is past the decoder's 64 MiB", async () => {
    // xz -6's block header names an 8 MiB dictionary (LZMA2 property 22); make it 128 MiB (30) and fix its CRC32.
    const packed = compress("xz", tarArchive([{ name: "./a", data: elf }]));
    const headerLength = (packed[12]! + 1) * 4;
    const filter = packed.indexOf(Buffer.from([0x21, 0x01, 22]), 12);
    expect(filter).toBeGreaterThan(12);
    expect(filter).toBeLessThan(12 + headerLength);
    packed[filter + 2] = 30;
    packed.writeUInt32LE(crc32(packed.subarray(12, 12 + headerLength - 4)), 12 + headerLength - 4);
    const path = deb("data.tar.xz", packed);
    await refused(scanArchive(path), "LIMIT", path, /64 MiB/);
  });

  it("AR11 archives inside an archive are members like any other, never opened", async () => {
    const inner = readFileSync(buildDeb(staged, join(dir, "inner.deb"), "none"));
    const path = deb("data.tar", tarArchive([{ name: "./inner.deb", data: inner }]));
    const scan = await scanArchive(path);
    expect({ files: scan.files, elves: scan.elves.length }).toEqual({ files: 1, elves: 0 });
  });
});

describe("what is not a package", () => {
  it("AR1 bytes that are not ar", async () => {
    const path = join(dir, "text.deb");
    writeFileSync(path, "hello, not an archive\n");
    await refused(scanArchive(path), "FORMAT", path, /not an ar archive/);
  });

  it("AR1 an ar archive without data.tar", async () => {
    const path = join(dir, "lib.deb");
    writeFileSync(path, arArchive([{ name: "foo.o", data: elf }]));
    await refused(scanArchive(path), "FORMAT", path, /no data\.tar/);
  });

  it("AR2 a data.tar.bz2", async () => {
    const path = deb("data.tar.bz2", Buffer.from("BZh9"));
    await refused(scanArchive(path), "UNSUPPORTED", path, /data\.tar\.bz2/);
  });

  it("AR3 a tar header with a bad checksum", async () => {
    const tar = tarArchive([{ name: "./a", data: elf }]);
    tar[0] = 0x41;
    const path = deb("data.tar", tar);
    await refused(scanArchive(path), "CORRUPT", path, /checksum/);
  });

  it("AR3 corrupt xz data", async () => {
    const packed = compress("xz", tarArchive([{ name: "./a", data: elf }]));
    for (let i = 40; i < packed.length - 40; i += 7) packed[i] = packed[i]! ^ 0x55;
    const path = deb("data.tar.xz", packed);
    const e = await scanArchive(path).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(ArchiveError);
    expect(["CORRUPT", "TRUNCATED"]).toContain((e as ArchiveError).code);
  });
});

describe("xz-decompress decodes one stream at a time per process: every read lets it go", () => {
  it("concurrent scans of xz archives all finish, and an aborted or failed one does not hold the decoder", async () => {
    const real = buildDeb(staged, join(dir, "concurrent.deb"), "xz");
    const cut = readFileSync(real);
    const broken = join(dir, "concurrent-cut.deb");
    writeFileSync(broken, cut.subarray(0, cut.length - 200));
    const abort = new AbortController();
    const aborted = scanArchive(real, { signal: abort.signal });
    abort.abort(new Error("stop"));
    await expect(aborted).rejects.toThrow("stop");
    await expect(scanArchive(broken)).rejects.toBeInstanceOf(ArchiveError);
    const scans = await Promise.all([0, 1, 2, 3].map(() => scanArchive(real)));
    expect(scans.map((s) => s.elves.length)).toEqual([3, 3, 3, 3]);
  });
});

describe("options", () => {
  it("AR14 a bound that is not a positive integer, or not a bound", async () => {
    const path = deb("data.tar", tarArchive([]));
    await expect(scanArchive(path, { limits: { maxMembers: 0 } })).rejects.toThrow(
      new RangeError("limits.maxMembers must be an integer >= 1, got 0"),
    );
    await expect(scanArchive(path, { limits: { maxRatio: "10" as unknown as number } })).rejects.toThrow(TypeError);
    await expect(scanArchive(path, { limits: { maxDepth: 3 } as never })).rejects.toThrow(
      new TypeError("limits.maxDepth is not an archive limit"),
    );
    await expect(ArchiveMemberCache.create({ maxBytes: -1 })).rejects.toThrow(RangeError);
  });
});

describe("the member cache", () => {
  it("AR12 AR13 extracts once, then opens the kept copy; evicts past maxFiles; refuses a changed archive", async () => {
    const path = buildDeb(staged, join(dir, "cached.deb"), "zstd");
    const scan = await scanArchive(path);
    const cache = await ArchiveMemberCache.create({ maxFiles: 1 });
    const [a, b] = scan.elves;
    const first = readFileSync(await cache.open(path, scan.stamp, a!.member, a!.size));
    const again = readFileSync(await cache.open(path, scan.stamp, a!.member, a!.size));
    expect(again.equals(first)).toBe(true);
    expect(cache.stats).toMatchObject({ hits: 1, extractions: 1, files: 1, bytes: a!.size });
    await cache.open(path, scan.stamp, b!.member, b!.size);
    expect(cache.stats).toMatchObject({ extractions: 2, evictions: 1, files: 1, bytes: b!.size });
    const both = await Promise.all([0, 1, 2].map(() => cache.open(path, scan.stamp, a!.member, a!.size)));
    expect(both.map((fd) => readFileSync(fd).equals(first))).toEqual([true, true, true]);
    expect(cache.stats.extractions).toBe(3);
    utimesSync(path, new Date(), new Date(0));
    await refused(cache.open(path, scan.stamp, b!.member, b!.size), "CHANGED", path);
    truncateSync(path, 10);
    await cache.dispose();
    expect(() => readdirSync(cache.dir)).toThrow();
    await expect(extractMember(path, a!.member, a!.size, () => {})).rejects.toBeInstanceOf(ArchiveError);
  });
});
