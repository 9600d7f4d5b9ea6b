// Package archives for the archive-reader tests: real ones built by dpkg-deb (and rpmbuild where it
// exists) around real ELF files, and hostile ones written byte by byte (ar, tar headers) or through the
// real compressors.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { makeTree, type Tree } from "./fixtures.js";

/** Whether `tool` is on the PATH. */
export function hasTool(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

/** A package staging tree: the programs of a {@link Tree} as a binary and its debug file, plus a text file, a link and a long name. */
export interface Staged {
  /** The tree the programs come from. */
  tree: Tree;
  /** The staging directory (with DEBIAN/control). */
  dir: string;
}

/** Stages a package tree under `tree.dir`: usr/bin/prog0, its debug file under .build-id, a README, a symlink, a 150-byte path. */
export function stagePackage(tree: Tree, name = "pkg"): Staged {
  const dir = join(tree.dir, name);
  const [p0, p1] = tree.programs;
  mkdirSync(join(dir, "DEBIAN"), { recursive: true });
  writeFileSync(
    join(dir, "DEBIAN", "control"),
    `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: Test <t@example.com>\nDescription: test package\n`,
  );
  mkdirSync(join(dir, "usr", "bin"), { recursive: true });
  copyFileSync(p0!.executable, join(dir, "usr", "bin", "prog0"));
  chmodSync(join(dir, "usr", "bin", "prog0"), 0o755);
  const debugDir = join(dir, "usr", "lib", "debug", ".build-id", p0!.id.slice(0, 2));
  mkdirSync(debugDir, { recursive: true });
  copyFileSync(p0!.debuginfo, join(debugDir, `${p0!.id.slice(2)}.debug`));
  const deep = join(dir, "usr", "lib", "x".repeat(60), "y".repeat(60));
  mkdirSync(deep, { recursive: true });
  copyFileSync(p1!.executable, join(deep, "prog1-with-a-long-path"));
  mkdirSync(join(dir, "usr", "share", "doc"), { recursive: true });
  writeFileSync(join(dir, "usr", "share", "doc", "README"), "not ELF\n");
  symlinkSync("prog0", join(dir, "usr", "bin", "prog0-link"));
  return { tree, dir };
}

/** Builds `staged` into `out` with `dpkg-deb --build -Z<compression>`. */
export function buildDeb(staged: Staged, out: string, compression: "xz" | "zstd" | "gzip" | "none"): string {
  execFileSync("dpkg-deb", ["--root-owner-group", `-Z${compression}`, "--build", staged.dir, out], { stdio: "pipe" });
  return out;
}

/** A tree and its staged package in a new temp directory. */
export function makeStaged(): Staged {
  return stagePackage(makeTree());
}

/** Regular files under `dir`, as paths relative to it. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** The build ID `readelf -n` prints for `file`, or `undefined` when it prints none (or the file is not ELF). */
export function readelfBuildId(file: string): string | undefined {
  const r = spawnSync("readelf", ["-n", "-W", file], { encoding: "utf8" });
  return /Build ID: ([0-9a-f]+)/.exec(r.stdout ?? "")?.[1];
}

/** Whether `readelf -S` lists a `.debug_info` section of `file` that has bytes in the file (type not NOBITS). */
export function readelfHasDebugInfo(file: string): boolean {
  const r = spawnSync("readelf", ["-S", "-W", file], { encoding: "utf8" });
  return /\]\s+\.debug_info\s+PROGBITS/.test(r.stdout ?? "");
}

/** An ar archive of `members`, as `ar` writes it (the format of a .deb). */
export function arArchive(members: { name: string; data: Uint8Array; size?: number }[]): Buffer {
  const parts: Buffer[] = [Buffer.from("!<arch>\n")];
  for (const m of members) {
    const size = m.size ?? m.data.length;
    const header =
      m.name.padEnd(16) +
      "0".padEnd(12) +
      "0".padEnd(6) +
      "0".padEnd(6) +
      "100644".padEnd(8) +
      String(size).padEnd(10) +
      "`\n";
    parts.push(Buffer.from(header, "latin1"), Buffer.from(m.data));
    if (m.data.length % 2) parts.push(Buffer.from("\n"));
  }
  return Buffer.concat(parts);
}

/** One tar entry for {@link tarArchive}. */
export interface TarEntry {
  name: string;
  data?: Uint8Array;
  /** ustar type flag: "0" file, "2" symlink, "1" hard link, "5" directory, "L" GNU long name. */
  type?: string;
  linkname?: string;
  /** Size written in the header when it differs from the data's. */
  size?: number;
}

function tarHeader(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name.slice(0, 100), 0, "utf8");
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write(e.type ?? "0", 156);
  if (e.linkname) h.write(e.linkname, 157);
  h.write("ustar  \0", 257);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return h;
}

/** A GNU tar archive of `entries` (names over 100 bytes get a GNU long-name record), ended by two zero blocks. */
export function tarArchive(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);
  for (const e of entries) {
    if (Buffer.byteLength(e.name) > 100) {
      const long = Buffer.from(`${e.name}\0`);
      parts.push(tarHeader({ name: "././@LongLink", type: "L" }, long.length), long, pad(long.length));
    }
    const data = Buffer.from(e.data ?? new Uint8Array(0));
    parts.push(tarHeader(e, e.size ?? data.length), data, pad(data.length));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** `data` through the real compressor (`xz`, `zstd`, `gzip`) with `args`. */
export function compress(tool: "xz" | "zstd" | "gzip", data: Uint8Array, args: string[] = []): Buffer {
  return execFileSync(tool, [...args, "-c"], { input: data, maxBuffer: 1 << 30 });
}

/** A .deb at `path` whose data member is `data` named `dataName`; debian-binary and an empty control.tar.gz before it. */
export function writeDeb(path: string, dataName: string, data: Uint8Array): string {
  writeFileSync(
    path,
    arArchive([
      { name: "debian-binary", data: Buffer.from("2.0\n") },
      { name: "control.tar.gz", data: compress("gzip", tarArchive([])) },
      { name: dataName, data },
    ]),
  );
  return path;
}

/** The bytes of the file at `path`. */
export function bytesOf(path: string): Buffer {
  return readFileSync(path);
}

/** Size of the file at `path`. */
export function sizeOf(path: string): number {
  return statSync(path).size;
}
