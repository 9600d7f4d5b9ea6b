// A root is a boundary (design invariant 8): a file or a folder under a root swapped for a symbolic
// link to the outside, at exactly the moment between the walk and the read, or between the scan and a
// request, never makes a file outside the root indexed or served. The scan's @internal hooks place
// each swap; the last test races the swaps from another process instead.
import { type ChildProcess, spawn } from "node:child_process";
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex, type ScanHooks } from "../../../src/node/debuginfod/build-id-index.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";
import { served } from "./served.js";

const INSIDE_ID = `1111111111111111${"aa".repeat(12)}`;
const OUTSIDE_ID = `2222222222222222${"bb".repeat(12)}`;

let inside: Tree;
let outsideTree: Tree;
beforeAll(() => {
  inside = makeTree([INSIDE_ID]);
  outsideTree = makeTree([OUTSIDE_ID]);
});
afterAll(() => {
  rmSync(inside.dir, { recursive: true, force: true });
  rmSync(outsideTree.dir, { recursive: true, force: true });
});

/** A served root and, beside it, an outside folder holding an ELF file whose ID must never be indexed or served. */
interface Scene {
  dir: string;
  root: string;
  /** Outside the root: `victim`, an ELF file with {@link OUTSIDE_ID}. */
  outside: string;
}

function scene(): Scene {
  const dir = mkdtempSync(join(inside.dir, "scene-"));
  const root = join(dir, "root");
  const outside = join(dir, "outside");
  mkdirSync(join(root, "a"), { recursive: true });
  mkdirSync(join(root, "z"));
  mkdirSync(outside);
  copyFileSync(outsideTree.programs[0]!.executable, join(outside, "victim"));
  copyFileSync(inside.programs[0]!.executable, join(root, "a", "prog"));
  for (let i = 0; i < 50; i++) writeFileSync(join(root, "a", `pad${i}`), "not ELF\n");
  return { dir, root, outside };
}

// Puts a regular file at root/z/victim (an inside ELF file: something worth reading).
function placeVictim(s: Scene): void {
  copyFileSync(inside.programs[0]!.executable, join(s.root, "z", "victim"));
}

// Swaps root/z/victim for a link to the outside victim.
function swapFile(s: Scene): void {
  renameSync(join(s.root, "z", "victim"), join(s.dir, "victim.was"));
  symlinkSync(join(s.outside, "victim"), join(s.root, "z", "victim"));
}

// Swaps the folder root/z for a link to the outside folder (which has its own `victim`).
function swapFolder(s: Scene): void {
  renameSync(join(s.root, "z"), join(s.dir, "z.was"));
  symlinkSync(s.outside, join(s.root, "z"));
}

async function expectNothingOutside(index: BuildIdIndex, s: Scene): Promise<void> {
  expect(index.lookup(OUTSIDE_ID)).toEqual([]);
  expect([...index.buildIds()]).not.toContain(OUTSIDE_ID);
  for (const id of index.buildIds())
    for (const f of index.lookup(id)) expect(f.path.startsWith(`${s.root}/`), f.path).toBe(true);
  const server = await serveDebuginfod(index, { port: 0 });
  try {
    const r = await get(`${server.url}/buildid/${OUTSIDE_ID}/executable`);
    await r.arrayBuffer();
    expect(r.status).toBe(404);
  } finally {
    await server.close();
  }
}

describe("a file or folder swapped for a link during a scan is never followed", () => {
  const swaps: { what: string; hooks: (s: Scene) => ScanHooks }[] = [
    { what: "a file, between the walk and the read", hooks: (s) => ({ walked: () => swapFile(s) }) },
    { what: "a folder, between the walk and the read", hooks: (s) => ({ walked: () => swapFolder(s) }) },
    {
      what: "a folder, after its parent was listed and before it is",
      hooks: (s) => ({ listed: (d) => void (d === s.root && swapFolder(s)) }),
    },
  ];
  const cases = swaps.flatMap(({ what, hooks }) =>
    [false, true].map((rescan) => ({ what: `${what}, in ${rescan ? "a rescan" : "a first scan"}`, rescan, hooks })),
  );
  for (const { what, rescan, hooks } of cases) {
    it(what, async () => {
      const s = scene();
      const index = await BuildIdIndex.create({ roots: [s.root] });
      try {
        if (rescan) {
          await index.scan();
          expect(index.lookup(INSIDE_ID).length).toBe(1);
        }
        placeVictim(s); // new since the last scan, so a rescan reads it too
        let called = 0;
        const given = hooks(s);
        const counted: ScanHooks = {
          listed: (d) => {
            if (given.listed) called++;
            given.listed?.(d);
          },
          walked: () => {
            if (given.walked) called++;
            given.walked?.();
          },
        };
        const stats = await index.scan({ hooks: counted });
        expect(called).toBeGreaterThan(0);
        await expectNothingOutside(index, s);
        expect(stats.unreadable + stats.links).toBeGreaterThan(0); // the swapped entry was met and refused
        expect(index.lookup(INSIDE_ID).map((f) => f.path)).toEqual([join(s.root, "a", "prog")]);
      } finally {
        index.dispose();
      }
    });
  }
});

describe("an indexed file or folder swapped for a link after the scan is not served", () => {
  it("a file swapped for a link to an outside ELF file: 404, and counted as refused", async () => {
    const s = scene();
    await served(s.root, async (server) => {
      const url = `${server.url}/buildid/${INSIDE_ID}/executable`;
      const before = await get(url);
      expect(Buffer.from(await before.arrayBuffer())).toEqual(readFileSync(join(s.root, "a", "prog")));
      renameSync(join(s.root, "a", "prog"), join(s.dir, "prog.was"));
      symlinkSync(join(s.outside, "victim"), join(s.root, "a", "prog"));
      const after = await get(url);
      const body = Buffer.from(await after.arrayBuffer());
      expect(after.status).toBe(404);
      expect(body.includes(readFileSync(join(s.outside, "victim")).subarray(0, 64))).toBe(false);
      expect(server.metrics.refused).toBe(1);
    });
  });

  it("its folder moved outside the root with a link left in its place: 404, though the file is unchanged", async () => {
    const s = scene();
    await served(s.root, async (server) => {
      const url = `${server.url}/buildid/${INSIDE_ID}/executable`;
      expect((await get(url).then(async (r) => [r.status, (await r.arrayBuffer()).byteLength]))[0]).toBe(200);
      // Renaming the folder leaves the file's device, inode, size, mtime and ctime as the scan saw them.
      renameSync(join(s.root, "a"), join(s.outside, "a"));
      symlinkSync(join(s.outside, "a"), join(s.root, "a"));
      const after = await get(url);
      await after.arrayBuffer();
      expect(after.status).toBe(404);
      const section = await get(`${server.url}/buildid/${INSIDE_ID}/section/.text`);
      await section.arrayBuffer();
      expect(section.status).toBe(404);
    });
  });
});

// A child that flips root/z between a folder and a link to the outside folder, and root/y/victim
// between a regular file and a link to the outside victim, in batches (so SIGTERM is heard), until
// SIGTERM or its own deadline; prints "ready", then its flip count when it ends.
const FLIPPER = `
const fs = require("node:fs");
const { join } = require("node:path");
const [root, outside, seconds] = process.argv.slice(1);
const at = (...p) => join(root, ...p);
let flips = 0;
const end = () => { process.stdout.write(String(flips)); process.exit(0); };
process.on("SIGTERM", end);
setTimeout(end, Number(seconds) * 1000);
const batch = () => {
  for (let i = 0; i < 50; i++) {
    try { fs.renameSync(at("z"), at("z.dir")); fs.symlinkSync(outside, at("z")); } catch {}
    try { fs.symlinkSync(join(outside, "victim"), at("y", "v.tmp")); fs.renameSync(at("y", "v.tmp"), at("y", "victim")); } catch {}
    try { fs.unlinkSync(at("z")); fs.renameSync(at("z.dir"), at("z")); } catch {}
    try { fs.linkSync(at("y", "v.real"), at("y", "v.tmp")); fs.renameSync(at("y", "v.tmp"), at("y", "victim")); } catch {}
    flips++;
  }
  setImmediate(batch);
};
process.stdout.write("ready\\n");
batch();
`;

describe("links flipped in a loop by another process while scans and requests run", () => {
  it("never index or serve the outside file", async () => {
    const s = scene();
    mkdirSync(join(s.root, "y"));
    const real = join(s.root, "y", "v.real");
    copyFileSync(inside.programs[0]!.executable, real);
    linkSync(real, join(s.root, "y", "victim"));
    copyFileSync(inside.programs[0]!.executable, join(s.root, "z", "victim"));
    for (let i = 0; i < 500; i++) writeFileSync(join(s.root, "a", `more${i}`), ""); // widens every window
    const child: ChildProcess = spawn(process.execPath, ["-e", FLIPPER, s.root, s.outside, "280"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (c) => {
      out += c;
    });
    const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
    const rounds = Number(process.env.ROOTS_RACE_ROUNDS ?? 20);
    const kept = await BuildIdIndex.create({ roots: [s.root] });
    const server = await serveDebuginfod(kept, { port: 0 });
    let requests = 0;
    let served = 0;
    let done = false;
    let asking: Promise<void> = Promise.resolve();
    try {
      while (!out.includes("ready") && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      // Requests for the outside ID the whole time the scans run: the kept index is rescanned under them.
      asking = (async () => {
        while (!done) {
          const r = await get(`${server.url}/buildid/${OUTSIDE_ID}/executable`);
          await r.arrayBuffer();
          requests++;
          if (r.status === 200) served++;
        }
      })();
      for (let i = 0; i < rounds; i++) {
        const fresh = await BuildIdIndex.create({ roots: [s.root] });
        try {
          await fresh.scan();
          expect(fresh.lookup(OUTSIDE_ID), `first scan ${i}`).toEqual([]);
        } finally {
          fresh.dispose();
        }
        await kept.scan();
        expect(kept.lookup(OUTSIDE_ID), `rescan ${i}`).toEqual([]);
      }
    } finally {
      done = true;
      await asking.catch(() => {});
      child.kill("SIGTERM");
      await exited;
      await server.close();
      kept.dispose();
    }
    console.log(`roots race: ${rounds} rounds, ${out.replace("ready\n", "")} flips, ${requests} requests`);
    expect(Number(out.replace("ready\n", ""))).toBeGreaterThan(0);
    expect(requests).toBeGreaterThan(0);
    expect(served).toBe(0);
  }, 300_000);
});
