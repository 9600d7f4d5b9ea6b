// /buildid/ID/source/PATH from sources inside packages, against elfutils' own server (`debuginfod -U
// -R`) over the same archives: a debuginfo member (a -dbgsym .ddeb, a -debuginfo .rpm, or the same
// .deb) names paths under /usr/src/debug; a member of that or a sibling package (a -dbgsrc .deb, a
// -debugsource .rpm) at such a path is served, with the same status, bytes and X-DEBUGINFOD-ARCHIVE as
// elfutils'; where two packages hold the path, the one nearer (longest shared path prefix) the
// debuginfo's package wins, as elfutils' sharedprefix() orders them, even when the other is newer.
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { hasTool, readelfBuildId } from "./archive-fixtures.js";

const tools = ["gcc", "objcopy", "dpkg-deb", "debuginfod", "debuginfod-find", "bsdtar"].every(hasTool);
const run = promisify(execFile);
const rpmTools = tools && hasTool("rpmbuild") && hasTool("rpm2cpio");

interface Answer {
  status: number;
  body: Buffer;
  archive: string | undefined;
}

/** GET `path` exactly as written (no dot-segment removal), on a fresh connection. */
function raw(base: string, path: string): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    httpGet({ hostname, port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const archive = res.headers["x-debuginfod-archive"];
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), archive: archive as string | undefined });
      });
    }).on("error", reject);
  });
}

/** A program built from `src` (its DWARF naming /usr/src/debug/NAME/...): the stripped binary and its debug file. */
interface Built {
  name: string;
  id: string;
  executable: string;
  debuginfo: string;
  /** The source tree, as packaged under usr/src/debug/NAME. */
  src: string;
}

function build(dir: string, name: string, variant: string): Built {
  const src = join(dir, "src", name);
  mkdirSync(join(src, "inc"), { recursive: true });
  writeFileSync(join(src, "inc", "util.h"), `static int twice(int x) { return 2 * x; /* ${variant} */ }\n`);
  writeFileSync(join(src, "main.c"), `#include "inc/util.h"\nint main(void) { return twice(${variant.length}); }\n`);
  writeFileSync(join(src, "other.c"), "/* packaged, never compiled: no DWARF names it */\n");
  const out = join(dir, "out", name);
  mkdirSync(out, { recursive: true });
  const executable = join(out, "prog");
  execFileSync(
    "gcc",
    [
      "-g",
      "-O0",
      `-fdebug-prefix-map=${join(dir, "src")}=/usr/src/debug`,
      "-Wl,--build-id",
      "-o",
      executable,
      "main.c",
    ],
    { cwd: src },
  );
  const debuginfo = join(out, "prog.debug");
  execFileSync("objcopy", ["--only-keep-debug", executable, debuginfo]);
  execFileSync("objcopy", ["--strip-debug", executable]);
  return { name, id: readelfBuildId(executable)!, executable, debuginfo, src };
}

/** Stages files (staging path -> source file) and builds a .deb or .ddeb of them. */
function deb(out: string, pkg: string, files: Record<string, string>): void {
  const stage = mkdtempSync(join(tmpdir(), "pkgsrc-stage-"));
  mkdirSync(join(stage, "DEBIAN"));
  writeFileSync(
    join(stage, "DEBIAN", "control"),
    `Package: ${pkg}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: T <t@example.com>\nDescription: test\n`,
  );
  for (const [to, from] of Object.entries(files)) {
    mkdirSync(dirname(join(stage, to)), { recursive: true });
    copyFileSync(from, join(stage, to));
    chmodSync(join(stage, to), 0o644);
  }
  mkdirSync(dirname(out), { recursive: true });
  execFileSync("dpkg-deb", ["--root-owner-group", "-Zxz", "--build", stage, out], { stdio: "pipe" });
  rmSync(stage, { recursive: true, force: true });
}

/** The same as an .rpm (gzip payload: xz-embedded refuses the SHA-256 check rpm gives xz payloads). */
function rpm(out: string, pkg: string, files: Record<string, string>): void {
  const top = mkdtempSync(join(tmpdir(), "pkgsrc-rpm-"));
  const stage = join(top, "stage");
  for (const [to, from] of Object.entries(files)) {
    mkdirSync(dirname(join(stage, to)), { recursive: true });
    copyFileSync(from, join(stage, to));
  }
  writeFileSync(
    join(top, "pkg.spec"),
    `Name: ${pkg}\nVersion: 1.0\nRelease: 1\nSummary: test\nLicense: MIT\n` +
      "%define debug_package %{nil}\n%define __os_install_post %{nil}\n%define _build_id_links none\n" +
      `%description\ntest\n%install\nmkdir -p %{buildroot}\ncp -a ${stage}/usr %{buildroot}/usr\n%files\n/usr\n`,
  );
  execFileSync(
    "rpmbuild",
    ["-bb", "--define", `_topdir ${top}`, "--define", "_binary_payload w9.gzdio", "--nodeps", join(top, "pkg.spec")],
    { stdio: "pipe" },
  );
  const rpms = join(top, "RPMS", "x86_64");
  mkdirSync(dirname(out), { recursive: true });
  cpSync(join(rpms, readdirSync(rpms)[0]!), out);
  rmSync(top, { recursive: true, force: true });
}

const debugPath = (b: Built) => `usr/lib/debug/.build-id/${b.id.slice(0, 2)}/${b.id.slice(2)}.debug`;
const sourcesOf = (b: Built) => ({
  [`usr/src/debug/${b.name}/main.c`]: join(b.src, "main.c"),
  [`usr/src/debug/${b.name}/inc/util.h`]: join(b.src, "inc", "util.h"),
  [`usr/src/debug/${b.name}/other.c`]: join(b.src, "other.c"),
});

let dir: string;
let root: string;
let programs: Built[];
let elfutils: ChildProcess;
let theirs: string;
let archives = 0;

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

// The requests put to both servers for `b`: every path its DWARF names, as written and through dot
// segments and an encoded slash; a packaged path no DWARF names; another program's source; a member
// that is ELF; a path nothing holds.
function requests(b: Built, other: Built): string[] {
  const base = `/buildid/${b.id}/source/usr/src/debug/${b.name}`;
  return [
    `${base}/main.c`,
    `${base}/inc/util.h`,
    `${base}/inc/../main.c`,
    `${base}/./inc//util.h`,
    `/buildid/${b.id}/source/usr%2Fsrc%2Fdebug/${b.name}/main.c`,
    `${base}/other.c`,
    `${base}/missing.c`,
    `/buildid/${b.id}/source/usr/src/debug/${other.name}/main.c`,
    `/buildid/${b.id}/source/usr/bin/prog`,
    `/buildid/${b.id}/source/${debugPath(b)}`,
  ];
}

beforeAll(async () => {
  if (!tools) return;
  dir = mkdtempSync(join(tmpdir(), "pkgsrc-"));
  root = join(dir, "root");
  programs = [build(dir, "pkga-1.0", "alpha"), build(dir, "pkgs-1.0", "same-package"), build(dir, "pkgr-1.0", "rpm")];
  const [a, same, r] = programs as [Built, Built, Built];
  // a: binary, -dbgsym .ddeb and -dbgsrc .deb side by side; a second -dbgsrc elsewhere, newer, its main.c changed.
  deb(join(root, "a", "pkga_1.0_amd64.deb"), "pkga", { "usr/bin/prog": a.executable });
  deb(join(root, "a", "pkga-dbgsym_1.0_amd64.ddeb"), "pkga-dbgsym", { [debugPath(a)]: a.debuginfo });
  deb(join(root, "a", "pkga-dbgsrc_1.0_all.deb"), "pkga-dbgsrc", sourcesOf(a));
  const changed = join(dir, "changed-main.c");
  writeFileSync(changed, "/* the same path in a newer package further away */\n");
  const far = join(root, "z", "pkga-dbgsrc_1.1_all.deb");
  deb(far, "pkga-dbgsrc", { ...sourcesOf(a), [`usr/src/debug/${a.name}/main.c`]: changed });
  const later = new Date(Date.now() + 3_600_000);
  utimesSync(far, later, later);
  archives += 4;
  // same: the debug file and its sources in one package.
  deb(join(root, "s", "pkgs-dbg_1.0_amd64.deb"), "pkgs-dbg", {
    [debugPath(same)]: same.debuginfo,
    "usr/bin/prog": same.executable,
    ...sourcesOf(same),
  });
  archives += 1;
  if (rpmTools) {
    rpm(join(root, "r", "pkgr-1.0-1.x86_64.rpm"), "pkgr", { "usr/bin/prog": r.executable });
    rpm(join(root, "r", "pkgr-debuginfo-1.0-1.x86_64.rpm"), "pkgr-debuginfo", { [debugPath(r)]: r.debuginfo });
    rpm(join(root, "r", "pkgr-debugsource-1.0-1.x86_64.rpm"), "pkgr-debugsource", sourcesOf(r));
  }
  const port = await freePort();
  elfutils = spawn(
    "debuginfod",
    ["-U", "-R", "-p", String(port), "-d", join(dir, "elfutils.sqlite"), "-t", "0", "-g", "0", root],
    { stdio: "ignore", env: { PATH: process.env.PATH, HOME: dir } },
  );
  theirs = `http://127.0.0.1:${port}`;
  const want = (source: string, n: number) =>
    new RegExp(`scanned_files_total\\{source="\\.${source} archive"\\} ${n}\\b`);
  let metrics = "";
  for (let attempt = 0; attempt < 240; attempt++) {
    metrics = await fetch(`${theirs}/metrics`).then(
      (r) => r.text(),
      () => "",
    );
    if (
      want("deb", archives - 1).test(metrics) &&
      want("ddeb", 1).test(metrics) &&
      (!rpmTools || want("rpm", 3).test(metrics))
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const scanned = metrics.split("\n").filter((line) => line.startsWith("scanned_files_total"));
  throw new Error(`debuginfod -U -R did not scan the archives in 120 s: ${scanned.join("; ")}`);
}, 240_000);

afterAll(() => {
  elfutils?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.runIf(tools)("sources inside packages, as debuginfod -U -R (elfutils 0.188) serves them", () => {
  it("same status, bytes and X-DEBUGINFOD-ARCHIVE as elfutils for named, canonicalised, unnamed and foreign paths; the nearer package before the newer", async () => {
    const index = await BuildIdIndex.create({ roots: [root] });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      const built = rpmTools ? programs : programs.slice(0, 2);
      let served = 0;
      for (const [i, b] of built.entries()) {
        for (const path of requests(b, built[(i + 1) % built.length]!)) {
          const mine = await raw(server.url, path);
          const expected = await raw(theirs, path);
          expect({ path, status: mine.status }).toEqual({ path, status: expected.status });
          if (expected.status !== 200) continue;
          served++;
          expect(mine.body.equals(expected.body), path).toBe(true);
          expect(mine.archive, path).toBe(expected.archive);
        }
      }
      // Each program: main.c three ways, util.h twice (the rest are misses on both).
      expect(served).toBe(5 * built.length);
      const a = programs[0]!;
      const nearer = await raw(server.url, `/buildid/${a.id}/source/usr/src/debug/${a.name}/main.c`);
      expect(nearer.archive).toBe(join(root, "a", "pkga-dbgsrc_1.0_all.deb"));
      // debuginfod-find, elfutils' client, gets each program's header through serve.
      for (const b of built) {
        const source = `/usr/src/debug/${b.name}/inc/util.h`;
        const cache = mkdtempSync(join(dir, "client-"));
        const { stdout } = await run("debuginfod-find", ["source", b.id, source], {
          env: { PATH: process.env.PATH, DEBUGINFOD_URLS: server.url, DEBUGINFOD_CACHE_PATH: cache },
          encoding: "utf8",
          timeout: 60_000,
        });
        expect(readFileSync(stdout.trim())).toEqual((await raw(theirs, `/buildid/${b.id}/source${source}`)).body);
      }
    } finally {
      await server.close();
      index.dispose();
    }
  }, 120_000);

  it("records no sources of packages with sources off (elfutils' --disable-source-scan)", async () => {
    const index = await BuildIdIndex.create({ roots: [root], sources: false });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      const a = programs[0]!;
      expect((await raw(server.url, `/buildid/${a.id}/executable`)).status).toBe(200);
      expect((await raw(server.url, `/buildid/${a.id}/source/usr/src/debug/${a.name}/main.c`)).status).toBe(404);
    } finally {
      await server.close();
      index.dispose();
    }
  }, 120_000);

  it("a schema-1 database (no sources of packages) is upgraded and its archives read again by the next scan", async () => {
    const path = join(dir, "index.sqlite");
    const a = programs[0]!;
    const source = `/buildid/${a.id}/source/usr/src/debug/${a.name}/main.c`;
    const first = await BuildIdIndex.open(path, { roots: [root] });
    await first.scan();
    first.dispose();
    const db = new Database(path);
    db.exec("DROP TABLE archive_srefs; DROP TABLE archive_sdefs; PRAGMA user_version = 1;");
    db.close();
    const index = await BuildIdIndex.open(path, { roots: [root] });
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      expect((await raw(server.url, source)).status).toBe(404);
      const stats = await index.scan();
      expect(stats.reads).toBe(archives + (rpmTools ? 3 : 0));
      expect((await raw(server.url, source)).status).toBe(200);
    } finally {
      await server.close();
      index.dispose();
    }
  }, 120_000);
});
