// The package-archive readers against the real tools: dpkg-deb builds the .deb files, and what
// `dpkg-deb --fsys-tarfile | tar -t`, `dpkg-deb -x` and readelf say of them is the expected answer.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractMember, scanArchive } from "../../../src/node/debuginfod/archive.js";
import {
  buildDeb,
  filesUnder,
  makeStaged,
  readelfBuildId,
  readelfHasDebugInfo,
  type Staged,
} from "./archive-fixtures.js";

const COMPRESSIONS = ["xz", "zstd", "gzip", "none"] as const;

function readelfIsExecutable(file: string): boolean {
  const header = spawnSync("readelf", ["-h", "-W", file], { encoding: "utf8" }).stdout ?? "";
  if (!/Type:\s+(EXEC|DYN)/.test(header)) return false;
  const sections = spawnSync("readelf", ["-S", "-W", file], { encoding: "utf8" }).stdout ?? "";
  return sections.split("\n").some((line) => {
    const m = /\]\s+\S+\s+PROGBITS\s+\S+\s+\S+\s+(\S+)\s+\S+\s+(\S*AX\S*)/.exec(line);
    return m !== null && Number.parseInt(m[1]!, 16) > 0;
  });
}

let staged: Staged;
const debs = new Map<string, string>();

beforeAll(() => {
  staged = makeStaged();
  for (const z of COMPRESSIONS) debs.set(z, buildDeb(staged, join(staged.tree.dir, `pkg-${z}.deb`), z));
  debs.set("ddeb", buildDeb(staged, join(staged.tree.dir, "pkg-dbgsym.ddeb"), "xz"));
});

afterAll(() => {
  rmSync(staged.tree.dir, { recursive: true, force: true });
});

describe.each([...COMPRESSIONS, "ddeb"])("a .deb built by dpkg-deb (%s)", (kind) => {
  it("has the members tar -t lists and the build IDs readelf -n reads from dpkg-deb -x's files", async () => {
    const deb = debs.get(kind)!;
    const listed = execFileSync("sh", ["-c", 'dpkg-deb --fsys-tarfile "$1" | tar -t', "sh", deb], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l !== "");
    const out = mkdtempSync(join(staged.tree.dir, "x-"));
    execFileSync("dpkg-deb", ["-x", deb, out]);
    const expected = filesUnder(out)
      .map((rel) => ({ rel, id: readelfBuildId(join(out, rel)) }))
      .filter((f) => f.id !== undefined)
      .map(({ rel, id }) => {
        const file = join(out, rel);
        return {
          member: `/${rel}`,
          buildId: id,
          size: readFileSync(file).length,
          debuginfo: readelfHasDebugInfo(file),
          executable: readelfIsExecutable(file),
        };
      });
    const scan = await scanArchive(deb);
    expect(scan.members).toBe(listed.length);
    expect(scan.files).toBe(filesUnder(out).length);
    expect(
      scan.elves
        .map(({ member, buildId, size, debuginfo, executable }) => ({ member, buildId, size, debuginfo, executable }))
        .sort((a, b) => a.member.localeCompare(b.member)),
    ).toEqual(expected.sort((a, b) => a.member.localeCompare(b.member)));
    expect(scan.elves.length).toBe(3);
    expect(scan.elves.some((e) => e.debuginfo && !e.executable)).toBe(true);
    expect(scan.payload).toBe(
      kind === "none" ? "data.tar" : `data.tar.${{ xz: "xz", zstd: "zst", gzip: "gz", ddeb: "xz" }[kind]}`,
    );
    const st = execFileSync("stat", ["-c", "%d %i %s", deb], { encoding: "utf8" }).trim();
    expect(`${scan.stamp.dev} ${scan.stamp.ino} ${scan.stamp.size}`).toBe(st);
  });

  it("extracts each ELF member byte for byte as dpkg-deb -x does", async () => {
    const deb = debs.get(kind)!;
    const out = mkdtempSync(join(staged.tree.dir, "x-"));
    execFileSync("dpkg-deb", ["-x", deb, out]);
    const scan = await scanArchive(deb);
    for (const elf of scan.elves) {
      const chunks: Uint8Array[] = [];
      const size = await extractMember(deb, elf.member, elf.size, (c) => {
        chunks.push(c.slice());
      });
      expect(size).toBe(elf.size);
      expect(Buffer.concat(chunks).equals(readFileSync(join(out, elf.member)))).toBe(true);
    }
  });
});
