import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { deviceOf, identityKey, majorMinorOf, packIdentity } from "../../../src/node/identity.js";
import {
  fileOffsetOf,
  findMapping,
  MapsParseError,
  mapFilesPath,
  mappingIdentity,
  parseMaps,
  readMaps,
} from "../../../src/node/procfs/maps.js";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/maps/${name}`, import.meta.url), "utf8");

describe("captured maps of this machine", () => {
  for (const name of ["node.maps", "sleep.maps"]) {
    test(`${name}: every field agrees with a whitespace split of the same line`, () => {
      const text = fixture(name);
      const lines = text.split("\n").filter((l) => l !== "");
      const parsed = parseMaps(text);
      expect(parsed).toHaveLength(lines.length);
      lines.forEach((line, i) => {
        const [range, perms, offset, dev, inode, ...rest] = line.split(/\s+/);
        const [start, end] = range!.split("-");
        const [major, minor] = dev!.split(":");
        const m = parsed[i]!;
        expect(m.start).toBe(BigInt(`0x${start}`));
        expect(m.end).toBe(BigInt(`0x${end}`));
        expect(m.perms).toBe(perms);
        expect([m.read, m.write, m.exec, m.shared]).toEqual([
          perms![0] === "r",
          perms![1] === "w",
          perms![2] === "x",
          perms![3] === "s",
        ]);
        expect(m.offset).toBe(BigInt(`0x${offset}`));
        expect([m.major, m.minor]).toEqual([Number.parseInt(major!, 16), Number.parseInt(minor!, 16)]);
        expect(m.inode).toBe(BigInt(inode!));
        expect(m.path).toBe(rest.join(" ").trim());
      });
      for (let i = 1; i < parsed.length; i++) expect(parsed[i]!.start).toBeGreaterThanOrEqual(parsed[i - 1]!.end);
    });
  }

  test("node.maps: the kernel's named regions and anonymous memory are told apart from files", () => {
    const parsed = parseMaps(fixture("node.maps"));
    const kinds = new Map(parsed.map((m) => [m.path, m.kind]));
    for (const name of ["[heap]", "[stack]", "[vdso]", "[vvar]", "[vsyscall]"]) expect(kinds.get(name)).toBe("pseudo");
    expect(kinds.get("")).toBe("anonymous");
    expect(kinds.get("/usr/bin/node")).toBe("file");
    const vsyscall = parsed.find((m) => m.path === "[vsyscall]")!;
    expect(vsyscall.start).toBe(0xffffffffff600000n);
    expect(vsyscall.perms).toBe("--xp");
  });

  test("awkward.maps: spaces, trailing spaces, newlines, deleted files and memfd match what the program mapped", () => {
    // awkward.expect.json was written by awkward.c from its own fstat(), not from maps.
    const expected = JSON.parse(fixture("awkward.expect.json")) as {
      address: string;
      path: string;
      major: number;
      minor: number;
      inode: string;
      deleted: boolean;
    }[];
    const parsed = parseMaps(fixture("awkward.maps"));
    expect(expected).toHaveLength(5);
    for (const e of expected) {
      const m = findMapping(parsed, BigInt(`0x${e.address}`));
      expect(m, e.path).toBeDefined();
      expect(m!.path).toBe(e.path);
      expect(m!.deleted).toBe(e.deleted);
      expect([m!.major, m!.minor, m!.inode]).toEqual([e.major, e.minor, BigInt(e.inode)]);
      expect(m!.kind).toBe("file");
    }
  });
});

describe("synthetic lines", () => {
  test("the man page's example line", () => {
    const [m] = parseMaps("00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n");
    expect(m).toEqual({
      start: 0x400000n,
      end: 0x452000n,
      perms: "r-xp",
      read: true,
      write: false,
      exec: true,
      shared: false,
      offset: 0n,
      major: 8,
      minor: 2,
      inode: 173521n,
      path: "/usr/bin/dbus-daemon",
      deleted: false,
      kind: "file",
    });
  });

  test("anonymous lines with and without the trailing space", () => {
    const parsed = parseMaps(
      "7f0000000000-7f0000001000 ---p 00000000 00:00 0 \n7f0000001000-7f0000002000 rw-p 00000000 00:00 0",
    );
    expect(parsed.map((m) => [m.kind, m.path, m.perms])).toEqual([
      ["anonymous", "", "---p"],
      ["anonymous", "", "rw-p"],
    ]);
  });

  test("named anonymous memory and anon_inode mappings are pseudo, with spaces kept", () => {
    const parsed = parseMaps(
      [
        "7f0000000000-7f0000002000 rw-p 00000000 00:00 0                          [anon:bic name]",
        "7f0000002000-7f0000003000 rw-s 00000000 00:0e 1043                       anon_inode:[perf_event]",
      ].join("\n"),
    );
    expect(parsed.map((m) => [m.kind, m.path, m.inode, m.shared])).toEqual([
      ["pseudo", "[anon:bic name]", 0n, false],
      ["pseudo", "anon_inode:[perf_event]", 1043n, true],
    ]);
  });

  test("wide device numbers, 64-bit offsets and inodes beyond 2^53 keep every bit", () => {
    const [m] = parseMaps("7f0000000000-7f0000001000 r--s ffffffffffff0000 103:1a2b3 18446744073709551615  /mnt/x");
    expect([m!.major, m!.minor]).toEqual([0x103, 0x1a2b3]);
    expect(m!.offset).toBe(0xffffffffffff0000n);
    expect(m!.inode).toBe(18446744073709551615n);
  });

  test("paths: inner and trailing spaces, an escaped newline, (deleted), memfd", () => {
    const parsed = parseMaps(
      [
        "7f0000000000-7f0000001000 r--p 00000000 fe:00 11   /a  b /c ",
        "7f0000001000-7f0000002000 r--p 00000000 fe:00 12   /tmp/new\\012line",
        "7f0000002000-7f0000003000 r-xp 00001000 fe:00 13   /usr/lib/libgone.so (deleted)",
        "7f0000003000-7f0000004000 r-xs 00000000 00:01 14   /memfd:jit code (deleted)",
      ].join("\n"),
    );
    expect(parsed.map((m) => [m.path, m.deleted, m.kind])).toEqual([
      ["/a  b /c ", false, "file"],
      ["/tmp/new\nline", false, "file"],
      ["/usr/lib/libgone.so", true, "file"],
      ["/memfd:jit code", true, "file"],
    ]);
  });

  test("malformed lines are refused with the line number and text", () => {
    expect(() => parseMaps("00400000-00452000 r-xp 00000000 08:02 1 /ok\ngarbage")).toThrow(
      new MapsParseError(2, "garbage", "not start-end perms offset dev inode [path]"),
    );
    expect(() => parseMaps("garbage")).toThrow('maps line 1: not start-end perms offset dev inode [path]: "garbage"');
    expect(() => parseMaps("2000-1000 r--p 00000000 00:00 0")).toThrow(
      'maps line 1: end 0x1000 is not above start 0x2000: "2000-1000 r--p 00000000 00:00 0"',
    );
    expect(() => parseMaps("2000-2000 r--p 00000000 00:00 0")).toThrow("end 0x2000 is not above start 0x2000");
    expect(() => parseMaps("1000-10000000000000001 r--p 00000000 00:00 0")).toThrow("is past 2^64");
    expect(() => parseMaps("1000-3000 r--p 0 00:00 0\n2000-4000 r--p 0 00:00 0")).toThrow(
      'maps line 2: the range starts before the end of the line above: "2000-4000 r--p 0 00:00 0"',
    );
    expect(() => parseMaps(`1000-2000 r--p 0 fe:00 1 /${"x".repeat(4096)}`)).toThrow("a name longer than 4096");
    expect(() => parseMaps("1000-2000 rwzp 00000000 00:00 0")).toThrow(MapsParseError);
  });

  test("findMapping finds the mapping holding an address, or none, at every boundary", () => {
    const parsed = parseMaps("1000-2000 r--p 0 00:00 0\n3000-4000 r--p 0 00:00 0\n");
    const at = (a: bigint) => findMapping(parsed, a)?.start;
    expect([at(0xfffn), at(0x1000n), at(0x1fffn), at(0x2000n), at(0x3000n), at(0x3fffn), at(0x4000n)]).toEqual([
      undefined,
      0x1000n,
      0x1000n,
      undefined,
      0x3000n,
      0x3000n,
      undefined,
    ]);
    expect(fileOffsetOf(parseMaps("1000-3000 r-xp 00005000 fe:00 1 /x")[0]!, 0x1234n)).toBe(0x5234n);
  });
});

describe("device numbers and identity", () => {
  test("deviceOf(major, minor) equals st_rdev for every device node in /dev (numbers from coreutils stat)", () => {
    const nodes = readdirSync("/dev", { withFileTypes: true }).filter(
      (d) => d.isCharacterDevice() || d.isBlockDevice(),
    );
    expect(nodes.length).toBeGreaterThan(3);
    const paths = nodes.map((d) => `/dev/${d.name}`);
    const lines = execFileSync("stat", ["-c", "%t %T", ...paths], { encoding: "utf8" })
      .trim()
      .split("\n");
    paths.forEach((path, i) => {
      const [major, minor] = lines[i]!.split(" ").map((h) => Number.parseInt(h, 16));
      expect(deviceOf(major!, minor!), path).toBe(statSync(path, { bigint: true }).rdev);
    });
  });

  test("a live process's file mappings have the identity stat reports for their map_files links", async () => {
    const maps = (await readMaps(process.pid)).filter((m) => m.kind === "file");
    expect(maps.length).toBeGreaterThan(3);
    for (const m of maps) {
      const st = statSync(mapFilesPath(process.pid, m), { bigint: true });
      expect(mappingIdentity(m)).toEqual({ dev: st.dev, ino: st.ino });
    }
  });

  test("majorMinorOf inverts deviceOf over the kernel's 12-bit major and 20-bit minor", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 0, max: 0xfffff }), (major, minor) => {
        expect(majorMinorOf(deviceOf(major, minor))).toEqual({ major, minor });
      }),
    );
  });

  test("identities pack exactly below 2^32 inodes and are keyed by a mix beyond", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xfff }),
        fc.integer({ min: 0, max: 0xfffff }),
        fc.bigInt({ min: 0n, max: 0xffffffffn }),
        (major, minor, ino) => {
          const key = packIdentity({ dev: deviceOf(major, minor), ino });
          expect(key).toBeDefined();
          expect([Number(key! >> 52n), Number((key! >> 32n) & 0xfffffn), key! & 0xffffffffn]).toEqual([
            major,
            minor,
            ino,
          ]);
        },
      ),
    );
    const big = { dev: deviceOf(0, 0x2c), ino: 1n << 40n };
    expect(packIdentity(big)).toBeUndefined();
    const key = identityKey(big);
    expect(key >= 0n && key < 1n << 64n).toBe(true);
    expect(identityKey({ ...big, ino: big.ino + 1n })).not.toBe(key);
  });
});
