// The reverse index over real files built with cc and objcopy: section table against readelf, kinds,
// the 64-bit prefix collision, incremental rescans, persistence, and hostile trees.
import { execFile, execFileSync } from "node:child_process";
import {
  closeSync,
  copyFileSync,
  linkSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ElfError } from "../../../src/elf.js";
import { SHT_NOBITS } from "../../../src/elf-constants.js";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { KIND, TableBuilder } from "../../../src/node/debuginfod/file-table.js";
import { SCHEMA_VERSION } from "../../../src/node/debuginfod/index-db.js";
import { encodeIndexFile, IndexFileError } from "../../../src/node/debuginfod/index-file.js";
import { fdReader } from "../../../src/node/debuginfod/reads.js";
import { readElfLayout } from "../../../src/node/debuginfod/sections.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, run, type Tree } from "./fixtures.js";

let tree: Tree;
beforeAll(() => {
  tree = makeTree();
});
afterAll(() => {
  execFileSync("rm", ["-rf", tree.dir]);
});

function layoutOf(path: string) {
  const fd = openSync(path, "r");
  try {
    return readElfLayout(fdReader(fd), readFileSync(path).length);
  } finally {
    closeSync(fd);
  }
}

// readelf -S -W: "  [Nr] Name Type Address Off Size ..." -> name, type, offset, size per section.
function readelfSections(path: string): { name: string; nobits: boolean; offset: number; size: number }[] {
  const rows: { name: string; nobits: boolean; offset: number; size: number }[] = [];
  for (const line of run("readelf", ["-S", "-W", path]).split("\n")) {
    const m = /^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
    if (m && m[1] !== "0")
      rows.push({ name: m[2]!, nobits: m[3] === "NOBITS", offset: parseInt(m[4]!, 16), size: parseInt(m[5]!, 16) });
  }
  return rows;
}

describe("section table reader", () => {
  it("reads the names, types, offsets and sizes readelf -S prints", () => {
    for (const file of [tree.programs[0]!.executable, tree.programs[0]!.debuginfo]) {
      const ours = layoutOf(file)
        .sections.slice(1)
        .map((s) => ({ name: s.name, nobits: s.type === SHT_NOBITS, offset: s.offset, size: s.size }));
      const theirs = readelfSections(file);
      expect(theirs.length).toBeGreaterThan(10);
      expect(ours).toEqual(theirs);
    }
  });

  it("tells executables from debuginfo as the files are", () => {
    const exe = layoutOf(tree.programs[0]!.executable);
    const debug = layoutOf(tree.programs[0]!.debuginfo);
    expect([exe.executable, exe.debuginfo]).toEqual([true, false]);
    expect([debug.executable, debug.debuginfo]).toEqual([false, true]);
    expect(debug.sections.find((s) => s.name === ".text")?.type).toBe(SHT_NOBITS);
  });

  it("refuses non-ELF and truncated bytes with an ElfError", () => {
    const bytes = readFileSync(tree.programs[0]!.executable);
    const read = (o: number, n: number) => bytes.subarray(o, o + n);
    expect(() => readElfLayout(() => new TextEncoder().encode("#!/bin/sh\n".padEnd(64)), 64)).toThrow(ElfError);
    expect(() => readElfLayout(read, 200)).toThrow(/past the end of the file/);
  });
});

describe("BuildIdIndex", () => {
  it("maps each ID to its executable and its debug file, exactly, though the IDs share 8 bytes", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    const stats = await index.scan();
    expect(stats).toMatchObject({ files: 5, reads: 5, withBuildId: 4, executables: 2, debuginfo: 2, buildIds: 2 });
    expect(index.size).toBe(2);
    for (const p of tree.programs) {
      const files = index.lookup(p.id);
      expect(files.map((f) => [f.path, f.executable, f.debuginfo]).sort()).toEqual(
        [
          [p.debuginfo, false, true],
          [p.executable, true, false],
        ].sort(),
      );
      expect(index.lookup(p.id.toUpperCase()).length).toBe(2);
    }
    expect(tree.programs[0]!.id.slice(0, 16)).toBe(tree.programs[1]!.id.slice(0, 16));
    expect(index.lookup(`0123456789abcdef${"cc".repeat(12)}`)).toEqual([]);
    expect(index.lookup("0123456789abcdef")).toEqual([]);
    expect([...index.buildIds()].sort()).toEqual(tree.programs.map((p) => p.id).sort());
    index.dispose();
  });

  it("rescans without reading an unchanged file, and reads only the one that changed", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    const again = await index.scan();
    expect(again).toMatchObject({ files: 5, reads: 0, reused: 5, buildIds: 2 });
    const target = tree.programs[1]!.executable;
    const later = new Date(Date.now() + 5000);
    utimesSync(target, later, later);
    const third = await index.scan();
    expect(third).toMatchObject({ reads: 1, reused: 4 });
    expect(index.lookup(tree.programs[1]!.id).find((f) => f.path === target)?.mtimeNs).toBe(
      statSync(target, { bigint: true }).mtimeNs,
    );
    index.dispose();
  });

  it("runs overlapping scans one after the other", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    const [first, second] = await Promise.all([index.scan(), index.scan()]);
    expect([first.reads, second.reads, second.reused]).toEqual([5, 0, 5]);
    index.dispose();
  });

  it("keeps the index in a database: reopened, it answers before any scan, and a rescan reads nothing", async () => {
    const dir = mkdtempSync(join(tree.dir, "db-"));
    const file = join(dir, "index.sqlite");
    const first = await BuildIdIndex.open(file, { roots: [tree.root] });
    await first.scan();
    const before = tree.programs.map((p) => first.lookup(p.id));
    first.dispose();
    const reopened = await BuildIdIndex.open(file, { roots: [tree.root] });
    expect(tree.programs.map((p) => reopened.lookup(p.id))).toEqual(before);
    expect(before.flat().length).toBe(4);
    expect(await reopened.scan()).toMatchObject({ reads: 0, reused: 5, removed: 0 });
    reopened.dispose();
  });

  it("migrates an index file of the old format once, answering from it at once, and refuses a corrupt one unchanged", async () => {
    const dir = mkdtempSync(join(tree.dir, "old-"));
    const file = join(dir, "index.bin");
    const scanned = await BuildIdIndex.create({ roots: [tree.root] });
    await scanned.scan();
    // The old format as the previous version's save wrote it: every file with its stamp, kind and ID.
    const builder = new TableBuilder();
    for (const id of scanned.buildIds())
      for (const f of scanned.lookup(id))
        builder.add(
          f.path,
          [f.dev, f.ino, f.size, f.mtimeNs, f.ctimeNs],
          (f.executable ? KIND.EXECUTABLE : 0) | (f.debuginfo ? KIND.DEBUGINFO : 0) | KIND.BUILD_ID,
          Buffer.from(id, "hex"),
        );
    writeFileSync(file, encodeIndexFile(builder.table));
    const migrated = await BuildIdIndex.open(file, { roots: [tree.root] });
    for (const p of tree.programs) expect(migrated.lookup(p.id)).toEqual(scanned.lookup(p.id));
    expect(readFileSync(file).subarray(0, 15).toString()).toBe("SQLite format 3");
    // The non-ELF file was not in the old file's records here, so it is the one file read.
    expect(await migrated.scan()).toMatchObject({ reads: 1, reused: 4, removed: 0 });
    migrated.dispose();
    scanned.dispose();

    const corrupt = join(dir, "corrupt.bin");
    const bytes = encodeIndexFile(builder.table);
    bytes[bytes.length - 10]! ^= 0xff;
    writeFileSync(corrupt, bytes);
    const error = await BuildIdIndex.open(corrupt).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IndexFileError);
    expect((error as IndexFileError).code).toBe("CHECKSUM_MISMATCH");
    expect(readFileSync(corrupt)).toEqual(Buffer.from(bytes));
    writeFileSync(corrupt, "BIDINDX1");
    await expect(BuildIdIndex.open(corrupt)).rejects.toMatchObject({ code: "TRUNCATED" });
    expect(readdirSync(dir).sort()).toEqual(["corrupt.bin", "index.bin"]);
  });

  it("refuses a file that is neither, and another program's SQLite database, leaving them as they were", async () => {
    const dir = mkdtempSync(join(tree.dir, "other-"));
    const text = join(dir, "notes.txt");
    writeFileSync(text, "not an index\n");
    await expect(BuildIdIndex.open(text)).rejects.toMatchObject({ name: "IndexDatabaseError", code: "NOT_AN_INDEX" });
    expect(readFileSync(text, "utf8")).toBe("not an index\n");
    const elfutils = join(dir, "debuginfod.sqlite");
    const other = new Database(elfutils);
    other.exec("CREATE TABLE buildids10_files (id INTEGER PRIMARY KEY, name TEXT);");
    other.close();
    const was = readFileSync(elfutils);
    const error = await BuildIdIndex.open(elfutils).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "IndexDatabaseError", code: "NOT_AN_INDEX" });
    expect((error as Error).message).toContain(elfutils);
    expect(readFileSync(elfutils)).toEqual(was);
  });

  it("IX3 a newer schema is refused unchanged; IX7 a read-only index answers but neither scans nor grooms", async () => {
    const dir = mkdtempSync(join(tree.dir, "ro-"));
    const file = join(dir, "index.sqlite");
    const writer = await BuildIdIndex.open(file, { roots: [tree.root] });
    await writer.scan();
    writer.dispose();
    const reader = await BuildIdIndex.open(file, { readonly: true });
    expect(reader.lookup(tree.programs[0]!.id).length).toBe(2);
    expect(reader.roots).toEqual([tree.root]);
    await expect(reader.scan()).rejects.toMatchObject({ name: "IndexReadOnlyError", code: "EROFS" });
    await expect(reader.groom()).rejects.toMatchObject({ name: "IndexReadOnlyError" });
    reader.dispose();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    const was = readFileSync(file);
    await expect(BuildIdIndex.open(file)).rejects.toMatchObject({ code: "NEWER_SCHEMA" });
    expect(readFileSync(file)).toEqual(was);
  });

  it("survives a link loop, a FIFO and a truncated ELF file, counting them", async () => {
    const hostile = makeTree([`feedface${"00".repeat(16)}`]);
    symlinkSync("..", join(hostile.root, "bin", "loop"));
    symlinkSync("/etc/passwd", join(hostile.root, "bin", "passwd"));
    execFileSync("mkfifo", [join(hostile.root, "bin", "fifo")]);
    const whole = readFileSync(hostile.programs[0]!.executable);
    writeFileSync(join(hostile.root, "bin", "cut"), whole.subarray(0, 200));
    copyFileSync(hostile.programs[0]!.executable, join(hostile.root, "bin", "copy"));
    const index = await BuildIdIndex.create({
      roots: [hostile.root, join(hostile.root, "bin"), join(hostile.dir, "absent")],
    });
    const stats = await index.scan();
    expect(stats).toMatchObject({ roots: 2, missingRoots: 1, links: 2, special: 1, files: 5, buildIds: 1 });
    expect(
      index
        .lookup(hostile.programs[0]!.id)
        .map((f) => f.path)
        .sort(),
    ).toEqual(
      [join(hostile.root, "bin", "copy"), hostile.programs[0]!.executable, hostile.programs[0]!.debuginfo].sort(),
    );
    index.dispose();
    execFileSync("rm", ["-rf", hostile.dir]);
  });

  it("keeps one path of a hard-linked file, the first in walk order, in the first scan and in a rescan", async () => {
    const linked = makeTree([`beef${"00".repeat(18)}`]);
    try {
      const p = linked.programs[0]!;
      const bin = join(linked.root, "bin");
      linkSync(p.executable, join(bin, "a-link")); // sorts before the original: kept
      linkSync(p.executable, join(bin, "zz-link"));
      const index = await BuildIdIndex.create({ roots: [linked.root] });
      const first = await index.scan();
      expect(first).toMatchObject({ hardLinks: 2, reads: first.files });
      const paths = index
        .lookup(p.id)
        .map((f) => f.path)
        .sort();
      expect(paths).toEqual([join(bin, "a-link"), p.debuginfo].sort());
      // The rescan stamps by lstat: it must agree with the first scan's handle stamps and links.
      const again = await index.scan();
      expect(again).toMatchObject({ hardLinks: 2, reads: 0, reused: first.files, files: first.files });
      expect(
        index
          .lookup(p.id)
          .map((f) => f.path)
          .sort(),
      ).toEqual(paths);
      index.dispose();
    } finally {
      execFileSync("rm", ["-rf", linked.dir]);
    }
  });

  it("indexes build IDs over 20 bytes (gcc --build-id=0x<32 bytes>), told apart in full, saved and served", async () => {
    const head = "ab".repeat(20); // both IDs share their first 20 bytes: the wasm table's width
    const long = makeTree([`${head}${"01".repeat(12)}`, `${head}${"02".repeat(12)}`]);
    try {
      for (const p of long.programs) expect(run("readelf", ["-n", p.executable])).toContain(`Build ID: ${p.id}`);
      const index = await BuildIdIndex.create({ roots: [long.root] });
      const stats = await index.scan();
      expect(stats).toMatchObject({ withBuildId: 4, buildIds: 2, longBuildIds: 0 });
      for (const p of long.programs) {
        expect(
          index
            .lookup(p.id)
            .map((f) => f.path)
            .sort(),
        ).toEqual([p.debuginfo, p.executable].sort());
        expect(index.lookup(p.id.toUpperCase()).length).toBe(2);
      }
      expect(index.lookup(head)).toEqual([]);
      expect(index.lookup(`${head}${"01".repeat(11)}`)).toEqual([]);
      expect([...index.buildIds()].sort()).toEqual(long.programs.map((p) => p.id).sort());

      const file = join(long.dir, "index.sqlite");
      const stored = await BuildIdIndex.open(file, { roots: [long.root] });
      await stored.scan();
      stored.dispose();
      const loaded = await BuildIdIndex.open(file, { roots: [long.root] });
      expect(loaded.lookup(long.programs[1]!.id)).toEqual(index.lookup(long.programs[1]!.id));
      expect(await loaded.scan()).toMatchObject({ reads: 0, buildIds: 2 });
      expect(loaded.lookup(long.programs[0]!.id).length).toBe(2);

      const server = await serveDebuginfod(loaded, { port: 0 });
      try {
        const p = long.programs[1]!;
        const cache = join(long.dir, "cache");
        const env = {
          PATH: process.env.PATH,
          HOME: long.dir,
          DEBUGINFOD_CACHE_PATH: cache,
          DEBUGINFOD_URLS: server.url,
        };
        // Asynchronously: the server answers from this process.
        const { stdout } = await promisify(execFile)("debuginfod-find", ["executable", p.id], { env, timeout: 60_000 });
        const out = stdout.trim();
        expect(readFileSync(out)).toEqual(readFileSync(p.executable));
      } finally {
        await server.close();
      }
      index.dispose();
      loaded.dispose();
    } finally {
      execFileSync("rm", ["-rf", long.dir]);
    }
  });

  it("refuses bad arguments with typed errors naming the value", async () => {
    await expect(BuildIdIndex.create({ roots: "/usr/bin" as never })).rejects.toThrow(TypeError);
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    expect(() => index.lookup("xyz1")).toThrow(/non-hex character "x"/);
    expect(() => index.lookup("")).toThrow(RangeError);
    expect(() => index.lookup(42 as never)).toThrow(/got 42/);
    index.dispose();
  });
});
