// A rescan's worker thread runs at nice 19 so that hits keep the CPU (servehit: hits while rescanning
// every second 667 -> 1,590 req/s, elfutils 1,621); the thread that serves keeps the process's nice value.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { getPriority } from "node:os";
import { afterAll, beforeAll, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { makeTree, type Tree } from "./fixtures.js";

let tree: Tree;
beforeAll(() => {
  tree = makeTree();
});
afterAll(() => rmSync(tree.dir, { recursive: true, force: true }));

/** Each thread of this process: its id and nice value (field 19 of /proc/self/task/TID/stat). */
function threadNices(): Map<number, number> {
  const nices = new Map<number, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "latin1");
      nices.set(Number(tid), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nices;
}

it.skipIf(getPriority() === 19)("a rescan's worker thread runs at nice 19, the serving thread as before", async () => {
  const own = getPriority();
  const before = threadNices();
  const index = await BuildIdIndex.create({ roots: [tree.root], scanThreads: 1, scanSpare: () => true });
  try {
    await index.scan();
    let workers = 0;
    await index.scan({
      hooks: {
        started: (all) => {
          workers = all().length;
        },
      },
    });
    expect(workers).toBe(1);
    // The worker stays while idle (2 s): it is among this process's threads now.
    const after = threadNices();
    const niced = [...after].filter(([tid, nice]) => !before.has(tid) && nice === 19);
    expect(niced.length).toBeGreaterThan(0);
    expect(after.get(process.pid)).toBe(own);
  } finally {
    index.dispose();
  }
});
