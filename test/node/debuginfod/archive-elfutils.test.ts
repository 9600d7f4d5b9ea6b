// What elfutils' own server (`debuginfod -U`) serves from a .deb, against what the archive readers and
// the member cache give for the same build IDs: the same bytes for executable, debuginfo and a section,
// and the same X-DEBUGINFOD-ARCHIVE and X-DEBUGINFOD-FILE values.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type ArchivedElf,
  type ArchiveScan,
  archiveHeaders,
  scanArchive,
} from "../../../src/node/debuginfod/archive.js";
import { openArchivedArtifact } from "../../../src/node/debuginfod/archive-artifact.js";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { ArchiveMemberCache } from "../../../src/node/debuginfod/member-cache.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { buildDeb, hasTool, makeStaged, type Staged } from "./archive-fixtures.js";
import { get as fetchGet } from "./http.js";

// elfutils reads a .deb through `bsdtar -O -x -f - data.tar*` (libarchive-tools), which debuginfod does not depend on.
const tools = hasTool("debuginfod") && hasTool("bsdtar");

let staged: Staged;
let elfutils: ChildProcess;
let url: string;
let cache: ArchiveMemberCache;
const scans: ArchiveScan[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function get(path: string, base = url): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const r = await fetchGet(`${base}${path}`);
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()), headers: r.headers };
}

beforeAll(async () => {
  if (!tools) return;
  staged = makeStaged();
  const root = join(staged.tree.dir, "debs");
  mkdirSync(root);
  for (const z of ["xz", "gzip", "none"] as const) {
    const deb = buildDeb(staged, join(root, `pkg-${z}.deb`), z);
    scans.push(await scanArchive(deb));
  }
  cache = await ArchiveMemberCache.create();
  const port = await freePort();
  elfutils = spawn(
    "debuginfod",
    ["-U", "-p", String(port), "-d", join(staged.tree.dir, "db.sqlite"), "-t", "0", "-g", "0", root],
    {
      stdio: "ignore",
      env: { PATH: process.env.PATH, HOME: staged.tree.dir },
    },
  );
  url = `http://127.0.0.1:${port}`;
  // Done when its metrics count the three archives scanned; nothing is extracted before the tests ask.
  for (let attempt = 0; attempt < 120; attempt++) {
    const metrics = await fetchGet(`${url}/metrics`).then(
      (r) => r.text(),
      () => "",
    );
    if (/scanned_files_total\{source="\.deb archive"\} 3\b/.test(metrics)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("debuginfod -U did not scan the three .deb files in 60 s");
}, 120_000);

afterAll(async () => {
  elfutils?.kill("SIGTERM");
  await cache?.dispose();
  if (staged) rmSync(staged.tree.dir, { recursive: true, force: true });
});

// The member elfutils names, found among the scans by archive path and member name.
function served(headers: Headers): { scan: ArchiveScan; elf: ArchivedElf } {
  const archive = headers.get("x-debuginfod-archive")!;
  const file = headers.get("x-debuginfod-file")!;
  const scan = scans.find((s) => s.path === archive);
  expect(scan, `elfutils named archive ${archive}`).toBeDefined();
  const elf = scan!.elves.find((e) => e.member === file || e.member.endsWith(`/${file}`));
  expect(elf, `elfutils named member ${file}`).toBeDefined();
  return { scan: scan!, elf: elf! };
}

describe.runIf(tools)("debuginfod -U (elfutils 0.188) and the archive readers on the same .deb files", () => {
  it("the first answer for a member (a fresh extraction) names the member by its file name, as archiveHeaders does; later ones from its fdcache by the whole member path", async () => {
    const id = staged.tree.programs[1]!.id;
    const answer = await get(`/buildid/${id}/executable`);
    const { scan, elf } = served(answer.headers);
    expect(answer.headers.get("x-debuginfod-file")).toBe(archiveHeaders(scan.path, elf.member)["X-DEBUGINFOD-FILE"]);
    const again = await get(`/buildid/${id}/executable`);
    expect(again.headers.get("x-debuginfod-file")).toBe(elf.member);
  });

  it("executable and debuginfo: same bytes, same X-DEBUGINFOD-ARCHIVE and X-DEBUGINFOD-FILE", async () => {
    const ids = new Set(scans.flatMap((s) => s.elves.map((e) => e.buildId)));
    expect(ids.size).toBe(2);
    for (const id of ids) {
      for (const artifact of ["executable", "debuginfo"] as const) {
        const answer = await get(`/buildid/${id}/${artifact}`);
        const ours = scans.flatMap((s) => s.elves.filter((e) => e.buildId === id && e[artifact]));
        if (ours.length === 0) {
          expect(answer.status).toBe(404);
          continue;
        }
        expect(answer.status).toBe(200);
        const { scan, elf } = served(answer.headers);
        expect(elf[artifact]).toBe(true);
        const headers = archiveHeaders(scan.path, elf.member);
        expect(headers["X-DEBUGINFOD-ARCHIVE"]).toBe(answer.headers.get("x-debuginfod-archive"));
        expect([headers["X-DEBUGINFOD-FILE"], elf.member]).toContain(answer.headers.get("x-debuginfod-file"));
        expect(answer.headers.get("x-debuginfod-size")).toBe(String(elf.size));
        const fd = await cache.open(scan.path, scan.stamp, elf.member, elf.size);
        expect(readFileSync(fd).equals(answer.body)).toBe(true);
      }
    }
  });

  it("a section: the bytes elfutils extracts are the section of the member it names", async () => {
    for (const p of staged.tree.programs) {
      for (const name of [".text", ".debug_info", ".note.gnu.build-id"]) {
        const answer = await get(`/buildid/${p.id}/section/${name}`);
        if (answer.status !== 200) {
          expect(answer.status).toBe(404);
          continue;
        }
        const { scan, elf } = served(answer.headers);
        const file = { archive: scan.path, stamp: scan.stamp, member: elf.member, size: elf.size };
        const opened = await openArchivedArtifact(cache, file, "section", name);
        expect(opened, `${name} of ${elf.member}`).toBeDefined();
        const bytes = readFileSync(opened!.fd).subarray(opened!.start, opened!.start + opened!.length);
        closeSync(opened!.fd);
        expect(bytes.equals(answer.body)).toBe(true);
      }
    }
  });
});

// debuginfod-find ARGS against `server` with a fresh cache: the path it prints, or undefined when it fails.
function debuginfodFind(server: string, cache: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(
      "debuginfod-find",
      args,
      {
        env: { PATH: process.env.PATH, HOME: staged.tree.dir, DEBUGINFOD_URLS: server, DEBUGINFOD_CACHE_PATH: cache },
        timeout: 60_000,
      },
      (error, stdout) => resolve(error ? undefined : stdout.trim()),
    );
  });
}

describe.runIf(tools)("serve over the same .deb files, beside debuginfod -U", () => {
  it("answers executable, debuginfo and sections as elfutils does: same status, same bytes, X-DEBUGINFOD-ARCHIVE one of the archives; debuginfod-find gets them through serve", async () => {
    const index = await BuildIdIndex.create({ roots: [join(staged.tree.dir, "debs")] });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      const archives = scans.map((s) => s.path);
      let served = 0;
      for (const p of staged.tree.programs) {
        const asked = [
          `/buildid/${p.id}/executable`,
          `/buildid/${p.id}/debuginfo`,
          ...[".text", ".debug_info", ".debug_line", ".note.gnu.build-id", ".nothing"].map(
            (n) => `/buildid/${p.id}/section/${n}`,
          ),
        ];
        for (const path of asked) {
          const theirs = await get(path);
          const mine = await get(path, server.url);
          expect(mine.status, path).toBe(theirs.status);
          if (theirs.status !== 200) continue;
          served++;
          expect(mine.body.equals(theirs.body), path).toBe(true);
          expect(archives).toContain(mine.headers.get("x-debuginfod-archive"));
          expect(mine.headers.get("x-debuginfod-size")).toBe(theirs.headers.get("x-debuginfod-size"));
          const [artifact, name] = path.split("/").slice(3);
          const args = artifact === "section" ? [artifact, p.id, name!] : [artifact!, p.id];
          const found = await debuginfodFind(server.url, join(staged.tree.dir, `find-${served}`), args);
          expect(found, `debuginfod-find ${path}`).toBeDefined();
          expect(readFileSync(found!).equals(theirs.body), path).toBe(true);
        }
      }
      expect(served).toBeGreaterThanOrEqual(6);
      expect(server.metrics.hits).toBeGreaterThanOrEqual(served);
    } finally {
      await server.close();
      index.dispose();
    }
  });
});
