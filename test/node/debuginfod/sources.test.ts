// Which source files a build ID may serve, against elfutils' debuginfod answering the same requests
// for the same debug file: a path the DWARF names, as written or canonicalised, is served; any other
// is not, whatever is on the disk; a source changed since the scan is not. Beyond elfutils: nothing
// outside the roots, no symbolic link on the way, and a DWARF 5 MD5 that must match.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { readSourceNames, type SourceNames } from "../../../src/node/debuginfod/dwarf-lines.js";
import { fdReader } from "../../../src/node/debuginfod/reads.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import {
  canonicalSourcePath,
  matchSource,
  SourceFiles,
  type SourceRecord,
  SourceRequestError,
  sourceRequestPath,
} from "../../../src/node/debuginfod/sources.js";
import { type Elfutils, have, llcFixtures, llcSources, startElfutils, tool } from "./dwarf-fixtures.js";

const missing = !have("gcc", "debuginfod", "mkfifo");

function sourceNames(path: string): SourceNames {
  const fd = openSync(path, "r");
  try {
    return readSourceNames(fdReader(fd), fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

/** Status and body of GET `path` (sent as it is: fetch would remove its dot segments). */
function fetchRaw(base: string, path: string): Promise<{ status: number; body: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    get({ hostname, port, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    }).on("error", reject);
  });
}

/** What serve's route would answer for `path`: the segments after /buildid/ID/source decoded as the server decodes them. */
function ours(files: SourceFiles, records: Map<string, SourceRecord>, path: string): { status: number; body?: Buffer } {
  const rest = path.split("/").slice(4).map(decodeURIComponent);
  let request: string;
  try {
    request = sourceRequestPath(rest);
  } catch (error) {
    if (error instanceof SourceRequestError) return { status: 400 };
    throw error;
  }
  const record = matchSource(records, request);
  const opened = record && files.open(record);
  if (!opened) return { status: 404 };
  try {
    const body = Buffer.alloc(Number(opened.stat.size));
    readSync(opened.fd, body, 0, body.length, 0);
    return { status: 200, body };
  } finally {
    closeSync(opened.fd);
  }
}

/** libcurl's escaping of a path as debuginfod-find sends it: every byte but unreserved ones and `/`. */
const curlEscape = (p: string) => p.split("/").map(encodeURIComponent).join("/");

/** The paths the fixture's DWARF names, as it writes them (two of them not canonical). */
const NAMED = ["/src/main.c", "/src/gen/./parser.y", "/weird//./dir/../w.c"];
/** Of {@link sourceRequests}, those served at least: each named path as written and canonicalised, and three other spellings of them; escaped and raw. */
const SERVED_AT_LEAST = 2 * (2 * NAMED.length + 3);

/**
 * The DW13 requests `/buildid/ID/source/PATH`: the named paths as written and canonicalised, other
 * spellings of them, and paths the DWARF does not name; each sent escaped (as curl sends it) and raw.
 */
function sourceRequests(): string[] {
  const named = NAMED.map((path) => root + path);
  const paths = [
    ...named,
    ...named.map(canonicalSourcePath),
    `${root}//src/main.c`,
    `${root}/src/../src/main.c`,
    `${root}/src/main.c/..`,
    `${root}/src/./gen/parser.y`,
    `${root}/src/notnamed.c`,
    `${root}/src/../../../etc/passwd`,
    "/etc/passwd",
    `${root}/src/missing.c`,
  ];
  return paths.flatMap((path) => [`/buildid/${id}/source${curlEscape(path)}`, `/buildid/${id}/source${path}`]);
}

let dir: string;
let root: string;
let outside: string;
let binary: string;
let id: string;
let elfutils: Elfutils;

beforeAll(async () => {
  if (missing) return;
  dir = mkdtempSync(join(tmpdir(), "sources-"));
  root = join(dir, "root");
  outside = join(dir, "outside");
  for (const d of ["src/gen", "real-include", "weird/dir", "bin"]) mkdirSync(join(root, d), { recursive: true });
  mkdirSync(outside);
  symlinkSync(join(root, "real-include"), join(root, "include"));
  writeFileSync(join(root, "real-include/util.h"), "static inline int twice(int x) { return 2 * x; }\n");
  writeFileSync(join(outside, "far.h"), "static inline int far(void) { return 9; }\n");
  writeFileSync(join(root, "src/gen/parser.y"), "%%\nparse: ;\n");
  writeFileSync(join(root, "weird/w.c"), "int w(int);\n");
  writeFileSync(join(root, "src/notnamed.c"), "int notnamed;\n");
  writeFileSync(join(root, "src/real.c"), "int real;\n");
  symlinkSync(join(root, "src/real.c"), join(root, "src/link.c"));
  execFileSync("mkfifo", [join(root, "src/fifo.c")]);
  writeFileSync(
    join(root, "src/main.c"),
    [
      '#include "../include/util.h"',
      `#include "${outside}/far.h"`,
      "int main(void) { return twice(far()); }",
      '#line 7 "gen/./parser.y"',
      "int parse(int x) { return x - 1; }",
      `#line 3 "${root}/weird//./dir/../w.c"`,
      "int w(int x) { return x + 7; }",
      '#line 1 "link.c"',
      "int l(int x) { return x; }",
      '#line 1 "fifo.c"',
      "int g(int x) { return x; }",
      "",
    ].join("\n"),
  );
  binary = join(root, "bin/prog");
  tool("gcc", ["-g", "-O0", "main.c", "-Wl,--build-id", "-o", binary], join(root, "src"));
  id = /Build ID: ([0-9a-f]+)/.exec(tool("readelf", ["-n", binary]))![1]!;
  elfutils = await startElfutils(join(root, "bin"), dir, [binary]);
}, 300_000);

afterAll(() => {
  elfutils?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing)("the paths a build ID serves, beside elfutils' debuginfod", () => {
  test("DW13 a named path as the DWARF writes it or canonicalised is served, byte for byte; any other is 404", async () => {
    const files = new SourceFiles([root]);
    const records = files.record(sourceNames(binary).sources);
    const answers = [];
    for (const raw of sourceRequests()) {
      const theirs = await fetchRaw(elfutils.url, raw);
      const mine = ours(files, records, raw);
      answers.push([raw, theirs.status, mine.status]);
      expect(mine.status, raw).toBe(theirs.status);
      if (theirs.status === 200) expect(mine.body!.equals(theirs.body), raw).toBe(true);
    }
    expect(answers.filter(([, status]) => status === 200).length).toBeGreaterThanOrEqual(SERVED_AT_LEAST);
    expect(answers.filter(([, status]) => status === 404).length).toBeGreaterThanOrEqual(8);
  });

  test("serve answers /source as elfutils' server does for what it shares, from what its scan recorded; 404 for what DW14 refuses", async () => {
    const index = await BuildIdIndex.create({ roots: [root] });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      let served = 0;
      for (const raw of sourceRequests()) {
        const theirs = await fetchRaw(elfutils.url, raw);
        const mine = await fetchRaw(server.url, raw);
        expect(mine.status, raw).toBe(theirs.status);
        if (theirs.status === 200) {
          expect(mine.body.equals(theirs.body), raw).toBe(true);
          served++;
        }
      }
      expect(served).toBeGreaterThanOrEqual(SERVED_AT_LEAST);
      for (const path of [`${outside}/far.h`, `${root}/src/link.c`, `${root}/include/util.h`]) {
        const raw = `/buildid/${id}/source${curlEscape(path)}`;
        expect((await fetchRaw(elfutils.url, raw)).status, raw).toBe(200);
        expect((await fetchRaw(server.url, raw)).status, raw).toBe(404);
      }
      expect((await fetchRaw(server.url, `/buildid/${id}/source`)).status).toBe(400);
      expect((await fetchRaw(server.url, `/buildid/${"ab".repeat(20)}/source${root}/src/main.c`)).status).toBe(404);
    } finally {
      await server.close();
      index.dispose();
    }
  });

  test("DW13 a percent-encoded slash or dot segment is decoded before matching, as libmicrohttpd decodes it", async () => {
    const files = new SourceFiles([root]);
    const records = files.record(sourceNames(binary).sources);
    const encoded = `${curlEscape(root)}/src%2Fmain.c`;
    for (const raw of [
      `/buildid/${id}/source${encoded}`,
      `/buildid/${id}/source${curlEscape(root)}/src/%2e%2e/src/main.c`,
    ]) {
      const theirs = await fetchRaw(elfutils.url, raw);
      expect(theirs.status, raw).toBe(200);
      expect(ours(files, records, raw).status, raw).toBe(200);
    }
  });

  test("DW14 beyond elfutils: not outside the roots, not through a symbolic link, not a FIFO", async () => {
    const files = new SourceFiles([root]);
    const records = files.record(sourceNames(binary).sources);
    for (const path of [
      `${outside}/far.h`,
      `${root}/src/link.c`,
      `${root}/src/../include/util.h`,
      `${root}/include/util.h`,
    ]) {
      const raw = `/buildid/${id}/source${curlEscape(path)}`;
      expect((await fetchRaw(elfutils.url, raw)).status, `elfutils serves ${path}`).toBe(200);
      expect(ours(files, records, raw).status, path).toBe(404);
    }
    expect(sourceNames(binary).sources.has(`${root}/src/fifo.c`)).toBe(true);
    expect(records.has(`${root}/src/fifo.c`)).toBe(false);
    expect(records.has(`${root}/src/main.c`)).toBe(true);
    const widened = new SourceFiles([root, outside]);
    expect(widened.record(sourceNames(binary).sources).has(`${outside}/far.h`)).toBe(true);
  });

  test("DW15 a source changed since it was recorded is 404, as elfutils answers for one changed since its scan", async () => {
    const files = new SourceFiles([root]);
    const records = files.record(sourceNames(binary).sources);
    const path = `${root}/src/gen/parser.y`;
    const raw = `/buildid/${id}/source${curlEscape(path)}`;
    expect(ours(files, records, raw).status).toBe(200);
    const later = new Date(Date.now() + 3_600_000);
    utimesSync(path, later, later);
    expect((await fetchRaw(elfutils.url, raw)).status).toBe(404);
    expect(ours(files, records, raw).status).toBe(404);
    expect(ours(files, files.record(sourceNames(binary).sources), raw).status).toBe(200);
  });

  test("DW15 a folder swapped for a link after the record is not followed, though the file is the same", () => {
    const files = new SourceFiles([root]);
    const records = files.record(sourceNames(binary).sources);
    const path = `${root}/weird/w.c`;
    const raw = `/buildid/${id}/source${curlEscape(path)}`;
    expect(ours(files, records, raw).status).toBe(200);
    renameSync(join(root, "weird"), join(root, "weird-moved"));
    symlinkSync(join(root, "weird-moved"), join(root, "weird"));
    try {
      expect(readFileSync(path, "utf8")).toBe("int w(int);\n");
      expect(ours(files, records, raw).status).toBe(404);
    } finally {
      rmSync(join(root, "weird"));
      renameSync(join(root, "weird-moved"), join(root, "weird"));
    }
  });
});

describe.skipIf(missing || !have("/usr/lib/llvm-14/bin/llc"))("MD5s in DWARF 5 tables", () => {
  test("DW14 a source whose MD5 is not the one its table gives is not recorded; those with theirs are (gcc gives none: all recorded)", () => {
    const base = mkdtempSync(join(tmpdir(), "sources-md5-"));
    try {
      const src = llcSources(base);
      const md5 = (p: string) => createHash("md5").update(readFileSync(p)).digest("hex");
      // h.h is stated with other.h's MD5.
      const stated = { main: md5(src.main), header: md5(src.other), other: md5(src.other) };
      const file = llcFixtures(base, stated).find((f) => f.name === "llc-x86_64-dwarf5")!;
      const names = sourceNames(file.path).sources;
      expect(names.get(src.main)).toEqual([stated.main]);
      expect(names.get(src.header)).toEqual([stated.header]);
      expect(names.get(src.other)).toEqual([stated.other]);
      const records = new SourceFiles([src.root]).record(names);
      expect([...records.keys()].sort()).toEqual([src.main, src.other].sort());
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe("request paths", () => {
  test("elfutils' canon_pathname: dot segments and // removed on the text, a trailing /.. or /. dropped", () => {
    expect(canonicalSourcePath("/a/b/../c")).toBe("/a/c");
    expect(canonicalSourcePath("/a//b/./c")).toBe("/a/b/c");
    expect(canonicalSourcePath("/../../etc/passwd")).toBe("/etc/passwd");
    expect(canonicalSourcePath("/a/b/..")).toBe("/a/b");
    expect(canonicalSourcePath("/a/b/.")).toBe("/a/b");
  });

  test("DW12 an empty path, a NUL, or one of PATH_MAX bytes: SourceRequestError naming it", () => {
    expect(() => sourceRequestPath([])).toThrow(new SourceRequestError("", "is empty: /buildid/ID/source needs /PATH"));
    const nul = () => sourceRequestPath(["tmp", "a\0b"]);
    expect(nul).toThrow(SourceRequestError);
    expect(nul).toThrow('source path "/tmp/a\\u0000b" holds a NUL byte');
    expect(() => sourceRequestPath(["x".repeat(4095)])).toThrow(/is longer than 4095 bytes, so names no file$/);
    expect(sourceRequestPath(["x".repeat(4094)])).toBe(`/${"x".repeat(4094)}`);
  });
});
