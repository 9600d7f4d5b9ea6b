// The server's remembered lookups (lookup-cache.ts): answered without a query while the database is
// unchanged, and never older than its last commit, whoever made it (this process's scans, or a writer
// beside a replica).
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { KIND } from "../../../src/node/debuginfod/file-table.js";
import { LookupCache } from "../../../src/node/debuginfod/lookup-cache.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";

const ID = `5555555555555555${"ee".repeat(12)}`;
const NEW_ID = `6666666666666666${"ff".repeat(12)}`;

let tree: Tree;
beforeAll(() => {
  tree = makeTree([ID, NEW_ID]);
});
afterAll(() => {
  rmSync(tree.dir, { recursive: true, force: true });
});

/** A root holding `a/prog` (the program of {@link ID}) and a database path beside it. */
function scene(): { root: string; db: string } {
  const dir = mkdtempSync(join(tree.dir, "lookups-"));
  const root = join(dir, "root");
  mkdirSync(join(root, "a"), { recursive: true });
  copyFileSync(tree.programs[0]!.executable, join(root, "a", "prog"));
  return { root, db: join(dir, "index.sqlite") };
}

/** Runs `check` with a scanned writer on a new scene's database and a cache over a read-only replica of it. */
async function overReplica(
  check: (s: { root: string; db: string }, writer: BuildIdIndex, cache: LookupCache) => Promise<void>,
): Promise<void> {
  const s = scene();
  const writer = await BuildIdIndex.open(s.db, { roots: [s.root] });
  await writer.scan();
  const replica = await BuildIdIndex.open(s.db, { readonly: true });
  const cache = new LookupCache(replica);
  try {
    await check(s, writer, cache);
  } finally {
    cache.close();
    replica.dispose();
    writer.dispose();
  }
}

describe("LookupCache", () => {
  it("answers an ID asked again without asking the index, until a scan commits", async () => {
    const s = scene();
    const index = await BuildIdIndex.open(s.db, { roots: [s.root] });
    await index.scan();
    const cache = new LookupCache(index);
    try {
      const asked = vi.spyOn(index, "lookup");
      expect(cache.lookup(ID).map((f) => f.path)).toEqual([join(s.root, "a", "prog")]);
      expect(cache.lookup(ID)).toBe(cache.lookup(ID));
      expect(asked).toHaveBeenCalledTimes(1);
      copyFileSync(tree.programs[0]!.executable, join(s.root, "a", "copy"));
      await index.scan();
      expect(
        cache
          .lookup(ID)
          .map((f) => f.path)
          .sort(),
      ).toEqual(
        index
          .lookup(ID)
          .map((f) => f.path)
          .sort(),
      );
      expect(cache.lookup(ID)).toHaveLength(2);
    } finally {
      cache.close();
      index.dispose();
    }
  });

  it("a remembered miss is a hit once a scan indexes the ID, and a remembered hit a miss once a scan drops it", async () => {
    const s = scene();
    const index = await BuildIdIndex.open(s.db, { roots: [s.root] });
    await index.scan();
    const cache = new LookupCache(index);
    try {
      expect(cache.lookup(NEW_ID)).toEqual([]);
      expect(cache.inArchives(NEW_ID)).toBe(false);
      copyFileSync(tree.programs[1]!.executable, join(s.root, "a", "new"));
      rmSync(join(s.root, "a", "prog"));
      await index.scan();
      expect(cache.lookup(NEW_ID).map((f) => f.path)).toEqual([join(s.root, "a", "new")]);
      expect(cache.lookup(ID)).toEqual([]);
    } finally {
      cache.close();
      index.dispose();
    }
  });

  it("over a replica: sees what the writer beside it commits", () =>
    overReplica(async (s, writer, cache) => {
      expect(cache.lookup(NEW_ID)).toEqual([]);
      copyFileSync(tree.programs[1]!.executable, join(s.root, "a", "new"));
      await writer.scan();
      expect(cache.lookup(NEW_ID).map((f) => f.path)).toEqual([join(s.root, "a", "new")]);
    }));

  it("reads the database's version once per turn of the event loop: a commit is seen from the next turn on", () =>
    overReplica(async (s, writer, cache) => {
      expect(cache.lookup(NEW_ID)).toEqual([]);
      const db = writer.database;
      const path = join(s.root, "a", "prog");
      const [file] = writer.lookup(ID);
      const stamp = [file!.dev, file!.ino, file!.size, file!.mtimeNs, file!.ctimeNs];
      db.transaction(() => {
        db.insertFile(
          db.rootId(s.root),
          `${path}.same`,
          stamp,
          KIND.EXECUTABLE | KIND.BUILD_ID,
          Buffer.from(NEW_ID, "hex"),
        );
      });
      expect(cache.lookup(NEW_ID)).toEqual([]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(cache.lookup(NEW_ID).map((f) => f.path)).toEqual([`${path}.same`]);
    }));

  it("over an index in memory: asks the index every time", async () => {
    const s = scene();
    const index = await BuildIdIndex.create({ roots: [s.root] });
    await index.scan();
    const cache = new LookupCache(index);
    try {
      const asked = vi.spyOn(index, "lookup");
      cache.lookup(ID);
      cache.lookup(ID);
      expect(asked).toHaveBeenCalledTimes(2);
    } finally {
      cache.close();
      index.dispose();
    }
  });
});

describe("the server's remembered lookups", () => {
  it("an ID answered 404 over a database is served once a rescan indexes it", async () => {
    const s = scene();
    const index = await BuildIdIndex.open(s.db, { roots: [s.root] });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      const url = `${server.url}/buildid/${NEW_ID}/executable`;
      const before = await get(url);
      await before.arrayBuffer();
      expect(before.status).toBe(404);
      copyFileSync(tree.programs[1]!.executable, join(s.root, "a", "new"));
      await server.rescan();
      const after = await get(url);
      await after.arrayBuffer();
      expect(after.status).toBe(200);
    } finally {
      await server.close();
      index.dispose();
    }
  });
});
