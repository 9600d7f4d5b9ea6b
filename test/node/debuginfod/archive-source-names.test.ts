// The source paths scanArchive keeps for each debuginfo member: the ones the DWARF reader gives for the
// same file on disk (checked against llvm-dwarfdump in dwarf-lines.test.ts), canonicalised; and a
// bound over the whole archive (maxSourceNames, AR19): a member that would pass it keeps none and is
// counted, while its build ID is still read.
import { closeSync, fstatSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scanArchive } from "../../../src/node/debuginfod/archive.js";
import { readSourceNames } from "../../../src/node/debuginfod/dwarf-lines.js";
import { fdReader } from "../../../src/node/debuginfod/reads.js";
import { canonicalSourcePath } from "../../../src/node/debuginfod/sources.js";
import { compress, hasTool, tarArchive, writeDeb } from "./archive-fixtures.js";
import { makeTree, type Tree } from "./fixtures.js";

const tools = hasTool("cc") && hasTool("objcopy") && hasTool("xz");
let tree: Tree;
let deb: string;

function namesOnDisk(path: string): string[] {
  const fd = openSync(path, "r");
  try {
    const names = readSourceNames(fdReader(fd), fstatSync(fd).size).sources.keys();
    return [...new Set([...names].map(canonicalSourcePath))];
  } finally {
    closeSync(fd);
  }
}

beforeAll(() => {
  if (!tools) return;
  tree = makeTree();
  const [p0, p1] = tree.programs;
  const tar = tarArchive([
    { name: "./usr/lib/debug/p0.debug", data: readFileSync(p0!.debuginfo) },
    { name: "./usr/lib/debug/p1.debug", data: readFileSync(p1!.debuginfo) },
    { name: "./usr/bin/p0", data: readFileSync(p0!.executable) },
  ]);
  deb = writeDeb(join(tree.dir, "two-debug.deb"), "data.tar.xz", compress("xz", tar, ["-0"]));
});

afterAll(() => {
  if (tree) rmSync(tree.dir, { recursive: true, force: true });
});

describe.runIf(tools)("source paths of an archive's debuginfo members", () => {
  it("are those the DWARF reader gives for the same files on disk; an executable without DWARF has none", async () => {
    const scan = await scanArchive(deb);
    const [p0, p1] = tree.programs;
    const byMember = new Map(scan.elves.map((e) => [e.member, e.sources]));
    expect(byMember.get("/usr/lib/debug/p0.debug")).toEqual(namesOnDisk(p0!.debuginfo));
    expect(byMember.get("/usr/lib/debug/p1.debug")).toEqual(namesOnDisk(p1!.debuginfo));
    expect(byMember.get("/usr/lib/debug/p0.debug")!.length).toBeGreaterThan(0);
    expect(byMember.get("/usr/bin/p0")).toEqual([]);
    expect(scan.sourcesOverLimit).toBe(0);
    expect((await scanArchive(deb, { sources: false })).elves.every((e) => e.sources.length === 0)).toBe(true);
  });

  it("AR19 past maxSourceNames over the archive, a member keeps no source paths and is counted; its build ID is still indexed", async () => {
    const whole = await scanArchive(deb);
    const first = whole.elves[0]!.sources.length;
    const cut = await scanArchive(deb, { limits: { maxSourceNames: first } });
    expect(cut.elves.map((e) => e.buildId)).toEqual(whole.elves.map((e) => e.buildId));
    expect(cut.elves[0]!.sources).toEqual(whole.elves[0]!.sources);
    expect(cut.elves[1]!.sources).toEqual([]);
    expect(cut.sourcesOverLimit).toBe(1);
    const room = await scanArchive(deb, { limits: { maxSourceNames: first + whole.elves[1]!.sources.length } });
    expect(room.sourcesOverLimit).toBe(0);
    expect(room.elves[1]!.sources).toEqual(whole.elves[1]!.sources);
    await expect(scanArchive(deb, { limits: { maxSourceNames: 0 } })).rejects.toThrow(
      "limits.maxSourceNames must be an integer >= 1, got 0",
    );
  });
});
