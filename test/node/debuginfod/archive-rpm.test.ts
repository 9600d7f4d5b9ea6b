// .rpm files built by rpmbuild (xz, zstd and gzip payloads) read as `rpm2cpio | bsdtar` reads them.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractMember, scanArchive } from "../../../src/node/debuginfod/archive.js";
import { ArchiveError } from "../../../src/node/debuginfod/archive-error.js";
import {
  filesUnder,
  hasTool,
  makeStaged,
  readelfBuildId,
  readelfHasDebugInfo,
  type Staged,
} from "./archive-fixtures.js";

const PAYLOADS = { xz: "w2.xzdio", zstd: "w3.zstdio", gzip: "w9.gzdio" } as const;
const tools = hasTool("rpmbuild") && hasTool("rpm2cpio") && hasTool("bsdtar");

let staged: Staged;
const rpms = new Map<string, string>();

function buildRpm(payload: string, top: string): string {
  const root = join(staged.dir, "usr");
  writeFileSync(
    join(top, "pkg.spec"),
    `Name: pkg\nVersion: 1.0\nRelease: 1\nSummary: test\nLicense: MIT\n` +
      "%define debug_package %{nil}\n%define __os_install_post %{nil}\n%define _build_id_links none\n" +
      `%description\ntest\n%install\nmkdir -p %{buildroot}\ncp -a ${root} %{buildroot}/usr\n` +
      "%files\n/usr\n",
  );
  execFileSync(
    "rpmbuild",
    ["-bb", "--define", `_topdir ${top}`, "--define", `_binary_payload ${payload}`, "--nodeps", join(top, "pkg.spec")],
    { stdio: "pipe" },
  );
  const dir = join(top, "RPMS", "x86_64");
  const rpm = join(top, `${payload}.rpm`);
  cpSync(join(dir, readdirSync(dir)[0]!), rpm);
  rmSync(join(top, "RPMS"), { recursive: true });
  return rpm;
}

beforeAll(() => {
  if (!tools) return;
  staged = makeStaged();
  const top = join(staged.tree.dir, "rpmbuild");
  mkdirSync(top);
  for (const [kind, payload] of Object.entries(PAYLOADS)) rpms.set(kind, buildRpm(payload, top));
}, 120_000);

afterAll(() => {
  if (staged) rmSync(staged.tree.dir, { recursive: true, force: true });
});

describe.runIf(tools)("an .rpm with rpm's xz payload", () => {
  it("is UNSUPPORTED when its stream names the SHA-256 check (xz-embedded verifies CRC32 and CRC64 only)", async () => {
    const rpm = rpms.get("xz")!;
    const bytes = readFileSync(rpm);
    const stream = bytes.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
    const sha256 = bytes[stream + 7] === 0x0a;
    const result = await scanArchive(rpm).catch((error: unknown) => error);
    if (sha256) {
      expect(result).toBeInstanceOf(ArchiveError);
      expect((result as ArchiveError).code).toBe("UNSUPPORTED");
      expect((result as ArchiveError).message).toMatch(/SHA-256/);
    } else expect((result as { elves: unknown[] }).elves).toHaveLength(3);
  });
});

describe.runIf(tools).each(["zstd", "gzip"])("an .rpm built by rpmbuild (%s payload)", (kind) => {
  it("has the entries rpm2cpio | bsdtar -t lists, and the build IDs readelf reads from its extraction", async () => {
    const rpm = rpms.get(kind)!;
    const listed = execFileSync("sh", ["-c", 'rpm2cpio "$1" | bsdtar -t -f -', "sh", rpm], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l !== "");
    const out = mkdtempSync(join(staged.tree.dir, "x-"));
    execFileSync("sh", ["-c", 'rpm2cpio "$1" | bsdtar -x -f - -C "$2"', "sh", rpm, out]);
    const expected = filesUnder(out)
      .map((rel) => ({ member: `/${rel}`, buildId: readelfBuildId(join(out, rel)), file: join(out, rel) }))
      .filter((f) => f.buildId !== undefined)
      .map(({ member, buildId, file }) => ({
        member,
        buildId,
        size: readFileSync(file).length,
        debuginfo: readelfHasDebugInfo(file),
      }))
      .sort((a, b) => a.member.localeCompare(b.member));
    const scan = await scanArchive(rpm);
    expect(scan.payload).toBe(`cpio.${kind}`);
    expect(scan.members).toBe(listed.length);
    expect(
      scan.elves
        .map(({ member, buildId, size, debuginfo }) => ({ member, buildId, size, debuginfo }))
        .sort((a, b) => a.member.localeCompare(b.member)),
    ).toEqual(expected);
    expect(expected).toHaveLength(3);
    for (const elf of scan.elves) {
      const chunks: Uint8Array[] = [];
      await extractMember(rpm, elf.member, elf.size, (c) => {
        chunks.push(c.slice());
      });
      expect(Buffer.concat(chunks).equals(readFileSync(join(out, elf.member)))).toBe(true);
    }
  });
});
