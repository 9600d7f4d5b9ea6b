// The index on its database, in process: what a scan has read is answered while it goes on, a file
// gone is a 404 on the next request (checked on open) and a file changed in place a 503, a groom
// drops what is gone without a walk, include and exclude patterns, the progress lines, and the rows
// the package and source readers store beside each file.
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROGRESS_LINE_SECONDS, scanProgress } from "../../../src/node/commands/local-index.js";
import { BuildIdIndex, type ScanProgress } from "../../../src/node/debuginfod/build-id-index.js";
import { KIND } from "../../../src/node/debuginfod/file-table.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get as fetchGet } from "./http.js";

/** Files after the program in walk order: enough that reading them spans many of the scan's 10 ms slices on any machine. */
const PADDING = 20_000;

let tree: Tree;
beforeAll(() => {
  tree = makeTree();
});
afterAll(() => {
  rmSync(tree.dir, { recursive: true, force: true });
});

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetchGet(url);
  return { status: r.status, text: Buffer.from(await r.arrayBuffer()).toString("latin1") };
}

// A root with one program in a/ and PADDING small files in z/, which the walk lists, and the scan reads, after a/.
function paddedRoot(): string {
  const root = mkdtempSync(join(tree.dir, "padded-"));
  mkdirSync(join(root, "a"));
  mkdirSync(join(root, "z"));
  copyFileSync(tree.programs[0]!.executable, join(root, "a", "prog"));
  for (let i = 0; i < PADDING; i++) writeFileSync(join(root, "z", `f${i}`), "x");
  return root;
}

describe("answers during a first scan", () => {
  it("a file read is answered at the scan's next pause, before the scan ends", async () => {
    const root = paddedRoot();
    const index = await BuildIdIndex.create({ roots: [root] });
    const seen: { handled: number; found: number }[] = [];
    await index.scan({
      onProgress: (p) => {
        if (p.phase === "read") seen.push({ handled: p.handled, found: index.lookup(tree.programs[0]!.id).length });
      },
    });
    const during = seen.filter((s) => s.handled < PADDING);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((s) => s.found === 1)).toBe(true);
    index.dispose();
  });

  it("serve listens before its first scan and answers a hit and /metrics while the scan goes on", async () => {
    const root = paddedRoot();
    const index = await BuildIdIndex.create({ roots: [root] });
    let answered: Promise<[{ status: number; text: string }, { status: number; text: string }]> | undefined;
    const server = await serveDebuginfod(index, {
      port: 0,
      scanAtStart: true,
      onScanProgress: (p: Readonly<ScanProgress>) => {
        if (answered === undefined && p.phase === "read" && p.handled > 0)
          answered = Promise.all([
            get(`${server.url}/buildid/${tree.programs[0]!.id}/executable`),
            get(`${server.url}/metrics`),
          ]);
      },
    });
    try {
      const deadline = Date.now() + 60_000;
      while (answered === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      const [hit, metrics] = await answered!;
      expect(hit.status).toBe(200);
      expect(metrics.text).toMatch(/^scan_in_progress 1$/m);
      expect(metrics.text).toMatch(/^scan_progress_files \d+$/m);
      expect(metrics.text).toMatch(/^index_database_bytes [1-9]\d*$/m);
    } finally {
      await server.close();
      index.dispose();
    }
  });
});

describe("a file gone or changed after the scan", () => {
  it("gone: 404 on the next request, counted as vanished; changed in place: 503", async () => {
    const root = mkdtempSync(join(tree.dir, "gone-"));
    const [p, q] = tree.programs;
    copyFileSync(p!.executable, join(root, "p"));
    copyFileSync(q!.executable, join(root, "q"));
    const index = await BuildIdIndex.create({ roots: [root] });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      expect((await get(`${server.url}/buildid/${p!.id}/executable`)).status).toBe(200);
      rmSync(join(root, "p"));
      expect((await get(`${server.url}/buildid/${p!.id}/executable`)).status).toBe(404);
      expect(server.metrics).toMatchObject({ vanished: 1, changed: 0 });
      appendFileSync(join(root, "q"), "more");
      expect((await get(`${server.url}/buildid/${q!.id}/executable`)).status).toBe(503);
      expect(server.metrics).toMatchObject({ vanished: 1, changed: 1 });
      expect((await get(`${server.url}/metrics`)).text).toMatch(/^buildid_vanished_total 1$/m);
    } finally {
      await server.close();
      index.dispose();
    }
  });
});

describe("groom", () => {
  it("drops files gone, or replaced by another file, without a walk; keeps the rest", async () => {
    const root = mkdtempSync(join(tree.dir, "groom-"));
    const [p, q] = tree.programs;
    copyFileSync(p!.executable, join(root, "p"));
    copyFileSync(q!.executable, join(root, "q"));
    copyFileSync(q!.debuginfo, join(root, "q.debug"));
    const index = await BuildIdIndex.create({ roots: [root] });
    await index.scan();
    rmSync(join(root, "p"));
    // Made before q.debug goes, so it has another inode number (a deleted file's number is often given to the next one).
    copyFileSync(q!.debuginfo, join(root, "q.debug.new"));
    rmSync(join(root, "q.debug"));
    renameSync(join(root, "q.debug.new"), join(root, "q.debug"));
    const stats = await index.groom();
    expect(stats).toMatchObject({ checked: 3, removed: 2 });
    expect(index.lookup(p!.id)).toEqual([]);
    expect(index.lookup(q!.id).map((f) => f.path)).toEqual([join(root, "q")]);
    expect((await index.scan()).reads).toBe(1); // the new q.debug, found by the next walk
    index.dispose();
  });

  it("drops a file changed in place (same device and inode, as when a new file gets a deleted one's number)", async () => {
    const root = mkdtempSync(join(tree.dir, "groom-"));
    const p = tree.programs[0]!;
    copyFileSync(p.executable, join(root, "p"));
    const index = await BuildIdIndex.create({ roots: [root] });
    await index.scan();
    appendFileSync(join(root, "p"), "one more byte, whatever the clock's granularity");
    expect(await index.groom()).toMatchObject({ checked: 1, removed: 1 });
    expect(index.lookup(p.id)).toEqual([]);
    expect((await index.scan()).reads).toBe(1);
    expect(index.lookup(p.id).map((f) => f.path)).toEqual([join(root, "p")]);
    index.dispose();
  });
});

describe("include and exclude patterns", () => {
  it("leave files out by path, as elfutils' -I and -X, and a groom drops what they now leave out", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root], exclude: [/\.debug$/] });
    const stats = await index.scan();
    expect(stats).toMatchObject({ excluded: 2, files: 3, debuginfo: 0, executables: 2 });
    index.dispose();
    const only = await BuildIdIndex.create({ roots: [tree.root], include: [/\/bin\//], exclude: [/README/] });
    expect(await only.scan()).toMatchObject({ excluded: 3, files: 2 });
    only.dispose();
  });

  it("refuses patterns that are not regular expressions, naming them", async () => {
    await expect(BuildIdIndex.create({ exclude: ["x"] as never })).rejects.toThrow(
      /exclude must be an array of RegExp/,
    );
  });
});

describe("progress off a terminal", () => {
  it("a line every few seconds with the counts, none before", () => {
    const lines: string[] = [];
    const shown = scanProgress({ out: () => {}, err: (t) => void lines.push(t) }, true, false);
    const p: ScanProgress = { phase: "walk", directories: 3, files: 120, handled: 0, reads: 0, elapsedMs: 10 };
    shown.update(p);
    shown.update({ ...p, elapsedMs: PROGRESS_LINE_SECONDS * 1000 - 1 });
    expect(lines).toEqual([]);
    shown.update({ ...p, elapsedMs: PROGRESS_LINE_SECONDS * 1000 });
    shown.update({ ...p, elapsedMs: PROGRESS_LINE_SECONDS * 1000 + 1 });
    shown.update({ ...p, phase: "read", handled: 50, reads: 40, elapsedMs: PROGRESS_LINE_SECONDS * 2000 + 5 });
    expect(lines).toEqual([
      `walking: 120 files found in 3 directories, ${PROGRESS_LINE_SECONDS} s\n`,
      `indexing: 50 of 120 files done, 40 read, ${PROGRESS_LINE_SECONDS * 2} s\n`,
    ]);
    const off: string[] = [];
    scanProgress({ out: () => {}, err: (t) => void off.push(t) }, false, false).update({ ...p, elapsedMs: 1e9 });
    expect(off).toEqual([]);
  });
});

describe("rows for the package and source readers", () => {
  it("members and sources are found by build ID and go with their file when it changes or goes", async () => {
    const dir = mkdtempSync(join(tree.dir, "rows-"));
    const root = join(dir, "root");
    mkdirSync(root);
    copyFileSync(tree.programs[0]!.debuginfo, join(root, "prog.debug"));
    writeFileSync(join(root, "pkg.deb"), "!<arch>\n");
    const index = await BuildIdIndex.open(join(dir, "index.sqlite"), { roots: [root] });
    await index.scan();
    const db = index.database;
    const id = Buffer.from(tree.programs[0]!.id, "hex");
    const debug = db.fileAt(join(root, "prog.debug"))!;
    const deb = db.fileAt(join(root, "pkg.deb"))!;
    const stamp = [1n, 2n, 3n, 2n ** 63n + 5n, 4n];
    db.transaction(() => {
      db.setSources(debug.id, [{ name: "/src/main.c", stamp }]);
      db.setMembers(deb.id, [{ member: "/usr/bin/prog", buildId: id, kind: KIND.EXECUTABLE, size: 10, mtimeS: 7 }]);
    });
    expect(db.sourcesOf(id)).toEqual([{ name: "/src/main.c", stamp }]);
    expect(db.membersOf(id)).toEqual([
      { archive: deb, member: "/usr/bin/prog", kind: KIND.EXECUTABLE, size: 10, mtimeS: 7 },
    ]);
    expect([...index.buildIds()]).toEqual([tree.programs[0]!.id]);
    appendFileSync(join(root, "prog.debug"), "x");
    rmSync(join(root, "pkg.deb"));
    expect(await index.scan()).toMatchObject({ reads: 1, removed: 1 });
    expect(db.sourcesOf(id)).toEqual([]);
    expect(db.membersOf(id)).toEqual([]);
    index.dispose();
  });
});
