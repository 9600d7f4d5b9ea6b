// serve's periodic rescan (rescanSeconds, as elfutils' debuginfod -t) on 127.0.0.1: a new file is
// served after the interval, a removed one answers 404, rescans never overlap, close() stops one.
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BuildIdIndex, type ScanStats } from "../../../src/node/debuginfod/build-id-index.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";

const NEW_ID = `fedcba9876543210${"cc".repeat(12)}`;
const WAIT_MS = 60_000; // a 1 s interval, waited for generously on a loaded 2-core machine

let tree: Tree;
let extra: Tree;
beforeAll(() => {
  tree = makeTree();
  extra = makeTree([NEW_ID]);
});
afterAll(() => {
  rmSync(tree.dir, { recursive: true, force: true });
  rmSync(extra.dir, { recursive: true, force: true });
});

async function statusOf(url: string): Promise<{ status: number; body: Buffer }> {
  const r = await get(url);
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

// Asks `url` every 100 ms until it answers `status`; the last answer otherwise.
async function until(url: string, status: number): Promise<{ status: number; body: Buffer }> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const got = await statusOf(url);
    if (got.status === status || Date.now() > deadline) return got;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("serve rescans on its own", () => {
  it("serves a file added under a root after the interval, and answers 404 once it is removed", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    const seen: ScanStats[] = [];
    const server = await serveDebuginfod(index, { port: 0, rescanSeconds: 1, onRescan: (s) => void seen.push(s) });
    try {
      const url = `${server.url}/buildid/${NEW_ID}/executable`;
      expect((await statusOf(url)).status).toBe(404);
      const placed = join(tree.root, "bin", "late");
      copyFileSync(extra.programs[0]!.executable, join(tree.dir, "late.tmp"));
      renameSync(join(tree.dir, "late.tmp"), placed);
      const served = await until(url, 200);
      expect(served.status).toBe(200);
      expect(served.body).toEqual(readFileSync(extra.programs[0]!.executable));
      // The rescan commits the file before it ends (a worker's goodbye, the counts): its figures come after.
      const readBy = Date.now() + WAIT_MS;
      while (!seen.some((s) => s.reads === 1) && Date.now() < readBy) await new Promise((r) => setTimeout(r, 100));
      expect(seen.some((s) => s.reads === 1)).toBe(true);
      const old = tree.programs[0]!;
      expect((await statusOf(`${server.url}/buildid/${old.id}/executable`)).status).toBe(200);

      rmSync(placed);
      expect((await until(url, 404)).status).toBe(404);
      const deadline = Date.now() + WAIT_MS; // the 404 comes on open; the rescan drops it from the index after
      while (!seen.some((s) => s.removed === 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(seen.some((s) => s.removed === 1)).toBe(true);
      expect(seen.every((s) => s.reads <= 1)).toBe(true); // unchanged files were never read again
      expect(server.metrics.rescans).toBe(seen.length);
      expect(await (await get(`${server.url}/metrics`)).text()).toMatch(/^rescans_total [1-9]/m);
    } finally {
      await server.close();
      index.dispose();
    }
  });

  it("runs one rescan at a time: calls during one share a single next one", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    let inFlight = 0;
    let most = 0;
    const scan = index.scan.bind(index);
    const spy = vi.spyOn(index, "scan").mockImplementation(async (options) => {
      most = Math.max(most, ++inFlight);
      try {
        return await scan(options);
      } finally {
        inFlight--;
      }
    });
    const server = await serveDebuginfod(index, { port: 0, rescanSeconds: 1 });
    try {
      const asked = Array.from({ length: 20 }, () => server.rescan());
      const stats = await Promise.all(asked);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(new Set(stats).size).toBe(2);
      const deadline = Date.now() + WAIT_MS; // the timer's rescans, after the asked ones
      while (spy.mock.calls.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(spy.mock.calls.length).toBeGreaterThanOrEqual(4);
      expect(most).toBe(1);
    } finally {
      await server.close();
      index.dispose();
    }
  });

  it("close() stops a rescan under way at its next pause; the index keeps what it had", async () => {
    const many = join(tree.dir, "many");
    mkdirSync(join(many, "files"), { recursive: true });
    for (let i = 0; i < 3000; i++) writeFileSync(join(many, "files", `f${i}`), "");
    copyFileSync(tree.programs[0]!.executable, join(many, "prog"));
    const index = await BuildIdIndex.create({ roots: [many] });
    await index.scan();
    expect(index.size).toBe(1);
    rmSync(join(many, "prog"));
    const server = await serveDebuginfod(index, { port: 0 });
    const stopped = expect(server.rescan()).rejects.toThrow(/the server is closing/);
    await server.close();
    await stopped;
    expect(index.size).toBe(1);
    expect(server.metrics.rescanErrors).toBe(0);
    await expect(server.rescan()).rejects.toThrow(/the server is closing/);
    index.dispose();
  });
  it("indexes a file with two names that is new since the last scan, under its first name", async () => {
    const root = join(tree.dir, "linked");
    mkdirSync(root);
    copyFileSync(tree.programs[1]!.executable, join(root, "first")); // an index not empty: a rescan stamps in its walk
    const index = await BuildIdIndex.create({ roots: [root] });
    try {
      await index.scan();
      const p = tree.programs[0]!;
      copyFileSync(p.executable, join(root, "a"));
      linkSync(join(root, "a"), join(root, "b"));
      const stats = await index.scan();
      expect(stats.hardLinks).toBe(1);
      expect(index.lookup(p.id).map((f) => f.path)).toEqual([join(root, "a")]);
    } finally {
      index.dispose();
    }
  });
});

// A rescan compares a folder's files with the database in runs of names between its subfolders
// (index-db.ts unchangedIn): names that sort around a subfolder's, in it, and past U+D800.
describe("a rescan over a database compares each file's stamp", () => {
  const names = ["a b", "l", "m-y", "m.x", "m0", "n", "\u{1F600}", "\uE000e", "m/k", "m/m.x", "m/sub/z", "m.x.d/q"];
  const spare = () => true;

  it("keeps every unchanged file unread, reads each rewritten in place, and drops one removed, in workers and after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rescan-runs-"));
    const root = join(dir, "root");
    const db = join(dir, "index.sqlite");
    const write = (name: string, text: string) => writeFileSync(join(root, name), text.padEnd(64, "."));
    try {
      for (const sub of ["m/sub", "m.x.d"]) mkdirSync(join(root, sub), { recursive: true });
      for (const name of names) write(name, name);
      copyFileSync(tree.programs[0]!.executable, join(root, "prog"));
      const files = names.length + 1;
      const index = await BuildIdIndex.open(db, { roots: [root], scanThreads: 1, scanSpare: spare });
      try {
        expect((await index.scan()).reads).toBe(files); // on this thread
        const unchanged = await index.scan(); // in a worker, comparing with the database
        expect([unchanged.reads, unchanged.reused, unchanged.removed]).toEqual([0, files, 0]);
        for (const name of names) write(name, `${name}!`); // same size and inode, new mtime and ctime
        const rewritten = await index.scan();
        expect([rewritten.reads, rewritten.reused]).toEqual([names.length, 1]);
        rmSync(join(root, "m", "k"));
        const removed = await index.scan();
        expect([removed.reads, removed.reused, removed.removed]).toEqual([0, files - 1, 1]);
      } finally {
        index.dispose();
      }
      // A restart: the first scan in the process compares on this thread.
      const again = await BuildIdIndex.open(db, { roots: [root], scanThreads: 1, scanSpare: spare });
      try {
        const restarted = await again.scan();
        expect([restarted.reads, restarted.reused, restarted.removed]).toEqual([0, files - 1, 0]);
        expect(again.lookup(tree.programs[0]!.id).map((f) => f.path)).toEqual([join(root, "prog")]);
      } finally {
        again.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
