// Opening under a root (src/node/files/under-root.ts) against a real tree: a symbolic link anywhere on
// the way is refused by name, `..` cannot climb out, a FIFO is refused without blocking, and a
// directory walk holds each directory once.
import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, readSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NotUnderRootError,
  openUnderRootSync,
  RootDir,
  relativeNames,
  SymlinkRefusedError,
} from "../../../src/node/files/under-root.js";
import { NotRegularFileError } from "../../../src/node/safe-open.js";

let dir: string;
let root: string;
let outside: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "buildid-under-root-"));
  root = join(dir, "root");
  outside = join(dir, "outside");
  mkdirSync(join(root, "a", "b"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, "a", "b", "inside"), "inside\n");
  writeFileSync(join(outside, "secret"), "secret\n");
  symlinkSync(outside, join(root, "a", "out")); // a folder link leading out
  symlinkSync(join(outside, "secret"), join(root, "a", "b", "file-link")); // a file link leading out
  symlinkSync("b", join(root, "a", "near")); // a link that stays inside: not followed either
  execFileSync("mkfifo", [join(root, "a", "fifo")]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function contents(fd: number): string {
  const buf = Buffer.alloc(64);
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  return buf.subarray(0, n).toString();
}

describe("openUnderRootSync", () => {
  it("opens a regular file under the root and checks it on the handle", () => {
    const { fd, stat } = openUnderRootSync(root, join(root, "a", "b", "inside"));
    expect(stat.isFile()).toBe(true);
    expect(contents(fd)).toBe("inside\n");
  });

  it("refuses a symbolic link on the way, at the end, or pointing inside, naming the link", () => {
    for (const [path, link] of [
      [join(root, "a", "out", "secret"), "a/out"],
      [join(root, "a", "b", "file-link"), "a/b/file-link"],
      [join(root, "a", "near", "inside"), "a/near"],
    ] as const) {
      const error = (() => {
        try {
          openUnderRootSync(root, path);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(SymlinkRefusedError);
      expect(error).toMatchObject({ code: "ESYMLINK", path, link });
      expect((error as Error).message).toBe(`${path}: ${link} is a symbolic link, not followed under a root`);
    }
  });

  it("refuses a path that is not below the root: outside it, `..`, `.`, empty components", () => {
    for (const path of [
      join(outside, "secret"),
      `${root}/a/../../outside/secret`,
      `${root}/a/./b/inside`,
      `${root}/a//b/inside`,
      root,
      `${root}-sibling/x`,
    ]) {
      expect(() => openUnderRootSync(root, path)).toThrow(NotUnderRootError);
    }
    expect(() => openUnderRootSync(root, `${root}/a/../../outside/secret`)).toThrow(
      `"${root}/a/../../outside/secret" is not a path under the root ${root}`,
    );
  });

  it("refuses a FIFO and a directory without blocking; a missing file is Node's ENOENT naming the real path", () => {
    expect(() => openUnderRootSync(root, join(root, "a", "fifo"))).toThrow(NotRegularFileError);
    expect(() => openUnderRootSync(root, join(root, "a", "b"))).toThrow(NotRegularFileError);
    expect(() => openUnderRootSync(root, join(root, "a", "gone"))).toThrow(
      expect.objectContaining({ code: "ENOENT", path: join(root, "a", "gone") }),
    );
  });

  it("refuses a root that is itself a symbolic link", () => {
    const linked = join(dir, "root-link");
    symlinkSync(root, linked);
    expect(() => RootDir.openSync(linked)).toThrow(SymlinkRefusedError);
  });
});

describe("RootDir", () => {
  it("lists and describes entries without following links, and reopens only what differs", () => {
    const r = RootDir.openSync(root);
    try {
      expect(
        r
          .list(["a"])
          .map((e) => e.name)
          .sort(),
      ).toEqual(["b", "fifo", "near", "out"]);
      expect(r.lstat(["a"], "out")?.isSymbolicLink()).toBe(true);
      expect(r.lstat(["a"], "absent")).toBeUndefined();
      expect(() => r.list(["a", "out"])).toThrow(SymlinkRefusedError);
      expect(() => r.lstat(["a"], "..")).toThrow(NotUnderRootError);
      expect(() => r.list(["a", ".."])).toThrow(NotUnderRootError);
      expect(r.dirStat(["a", "b"]).isDirectory()).toBe(true);
      expect(contents(r.openFile(["a", "b"], "inside").fd)).toBe("inside\n");
    } finally {
      r.close();
    }
  });
});

describe("relativeNames", () => {
  it("splits a path below a root into its names, and nothing else", () => {
    expect(relativeNames("/r", "/r/a/b")).toEqual(["a", "b"]);
    expect(relativeNames("/", "/usr/bin/env")).toEqual(["usr", "bin", "env"]);
    expect(relativeNames("/r", "/r")).toBeUndefined();
    expect(relativeNames("/r", "/rr/a")).toBeUndefined();
    expect(relativeNames("/r", "/r/a/../b")).toBeUndefined();
  });
});

describe("without procfs", () => {
  // A mount namespace of its own with /proc unmounted: needs root and util-linux's unshare.
  const can = process.getuid?.() === 0 && spawnSync("unshare", ["--version"]).status === 0;
  it.skipIf(!can)(
    "a scan fails with ProcfsMissingError instead of finding nothing",
    () => {
      const module = resolve("src/node/debuginfod/build-id-index.ts");
      const core = resolve("src/default-core.ts");
      const script = `import ${JSON.stringify(core)};
import { BuildIdIndex } from ${JSON.stringify(module)};
const index = await BuildIdIndex.create({ roots: [${JSON.stringify(root)}] });
await index.scan().then(() => console.log("scanned"), (e) => console.log(e.name, e.code, e.message));`;
      const inner = `umount -l /proc && exec "$0" --import tsx --input-type=module -e "$1"`;
      const out = execFileSync(
        "unshare",
        ["-m", "--propagation", "private", "sh", "-c", inner, process.execPath, script],
        {
          encoding: "utf8",
          timeout: 120_000,
        },
      );
      expect(out.trim()).toBe(
        "ProcfsMissingError ENOPROCFS opening under a root needs procfs mounted at /proc, but /proc/self/fd cannot be read (ENOENT)",
      );
    },
    120_000,
  );
});
