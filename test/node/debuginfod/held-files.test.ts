// The server's held descriptors (held-files.ts): a file served once is read again through the same
// descriptor only while it is still the file at its indexed path. Each case changes the tree after a
// first use, as a request would meet it, and checks both the cache and what the server answers.
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex, type IndexedFile } from "../../../src/node/debuginfod/build-id-index.js";
import { HeldFiles } from "../../../src/node/debuginfod/held-files.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";

const ID = `3333333333333333${"cc".repeat(12)}`;
const OTHER_ID = `4444444444444444${"dd".repeat(12)}`;

let tree: Tree;
beforeAll(() => {
  tree = makeTree([ID, OTHER_ID]);
});
afterAll(() => {
  rmSync(tree.dir, { recursive: true, force: true });
});

/** A root holding `a/prog` (the program of {@link ID}) and, beside it, a folder outside the root. */
function scene(): { dir: string; root: string; outside: string; prog: string } {
  const dir = mkdtempSync(join(tree.dir, "held-"));
  const root = join(dir, "root");
  const outside = join(dir, "outside");
  mkdirSync(join(root, "a"), { recursive: true });
  mkdirSync(outside);
  const prog = join(root, "a", "prog");
  copyFileSync(tree.programs[0]!.executable, prog);
  return { dir, root, outside, prog };
}

// The one indexed file of ID, from a finished scan of `root`, and the index (to dispose).
async function indexed(root: string): Promise<{ index: BuildIdIndex; file: IndexedFile }> {
  const index = await BuildIdIndex.create({ roots: [root] });
  await index.scan();
  const [file] = index.lookup(ID);
  expect(file).toBeDefined();
  return { index, file: file! };
}

describe("HeldFiles", () => {
  it("reads a file asked for again through the descriptor it holds", async () => {
    const s = scene();
    const { index, file } = await indexed(s.root);
    const held = new HeldFiles();
    try {
      const first = held.open(file);
      expect(typeof first).toBe("number");
      expect(held.open(file)).toBe(first);
      expect(held.size).toBe(1);
    } finally {
      held.clear();
      index.dispose();
    }
  });

  it("refuses its file once its folder is moved out of the root with a link left in its place, though the file is unchanged", async () => {
    const s = scene();
    const { index, file } = await indexed(s.root);
    const held = new HeldFiles();
    try {
      expect(typeof held.open(file)).toBe("number");
      // The file keeps its device, inode, size, mtime and ctime: only its path tells.
      renameSync(join(s.root, "a"), join(s.outside, "a"));
      symlinkSync(join(s.outside, "a"), join(s.root, "a"));
      expect(held.open(file)).toBe("refused");
      expect(held.size).toBe(0);
    } finally {
      held.clear();
      index.dispose();
    }
  });

  it("serves its file again once its folder is moved back: the same file at the same path", async () => {
    const s = scene();
    const { index, file } = await indexed(s.root);
    const held = new HeldFiles();
    try {
      expect(typeof held.open(file)).toBe("number");
      renameSync(join(s.root, "a"), join(s.outside, "a"));
      renameSync(join(s.outside, "a"), join(s.root, "a"));
      expect(typeof held.open(file)).toBe("number");
    } finally {
      held.clear();
      index.dispose();
    }
  });

  it("finds its file gone once another file is renamed over it, and changed once it is appended to", async () => {
    const s = scene();
    const { index, file } = await indexed(s.root);
    const held = new HeldFiles();
    try {
      expect(typeof held.open(file)).toBe("number");
      copyFileSync(tree.programs[1]!.executable, join(s.dir, "next"));
      renameSync(join(s.dir, "next"), s.prog);
      expect(held.open(file)).toBe("gone");
    } finally {
      held.clear();
      index.dispose();
    }
    const again = scene();
    const second = await indexed(again.root);
    try {
      expect(typeof held.open(second.file)).toBe("number");
      appendFileSync(again.prog, "more");
      expect(held.open(second.file)).toBe("changed");
    } finally {
      held.clear();
      second.index.dispose();
    }
  });

  it("closes what was not asked for between two sweeps, and keeps what was", async () => {
    const s = scene();
    const { index, file } = await indexed(s.root);
    const held = new HeldFiles();
    try {
      held.open(file);
      held.sweep();
      expect(held.size).toBe(1);
      held.sweep();
      expect(held.size).toBe(0);
    } finally {
      held.clear();
      index.dispose();
    }
  });

  it("holds at most its capacity, closing the least recently used", async () => {
    const s = scene();
    copyFileSync(tree.programs[1]!.executable, join(s.root, "a", "other"));
    const index = await BuildIdIndex.create({ roots: [s.root] });
    await index.scan();
    const held = new HeldFiles(1);
    try {
      const [a] = index.lookup(ID);
      const [b] = index.lookup(OTHER_ID);
      held.open(a!);
      held.open(b!);
      expect(held.size).toBe(1);
      expect(typeof held.open(a!)).toBe("number");
    } finally {
      held.clear();
      index.dispose();
    }
  });
});

/** The scene's root indexed and served on 127.0.0.1; `body` gets the server and the scene's executable URL. */
async function served(
  s: ReturnType<typeof scene>,
  body: (server: Awaited<ReturnType<typeof serveDebuginfod>>, url: string) => Promise<void>,
): Promise<void> {
  const index = await BuildIdIndex.create({ roots: [s.root] });
  await index.scan();
  const server = await serveDebuginfod(index, { port: 0 });
  try {
    await body(server, `${server.url}/buildid/${ID}/executable`);
  } finally {
    await server.close();
    index.dispose();
  }
}

/** Two requests for `url` answered with `file`'s bytes (the second from the held descriptor). */
async function servedTwice(url: string, file: string): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const r = await get(url);
    expect(r.status).toBe(200);
    // Buffer.equals, not toEqual (0.1-0.8 s byte by byte under load): that idle gap, stretched by load, met the keep-alive timeout.
    expect(Buffer.from(await r.arrayBuffer()).equals(readFileSync(file))).toBe(true);
  }
}

describe("the server's held descriptors", () => {
  it("a file served once, its folder then swapped for a link to an outside copy: 404, never the held file", async () => {
    const s = scene();
    await served(s, async (server, url) => {
      await servedTwice(url, s.prog);
      renameSync(join(s.root, "a"), join(s.outside, "a"));
      symlinkSync(join(s.outside, "a"), join(s.root, "a"));
      const after = await get(url);
      await after.arrayBuffer();
      expect(after.status).toBe(404);
      expect(server.metrics.refused).toBe(1);
    });
  });

  it("a file served once (its bytes kept), then written in place and rescanned: its new bytes, never the kept ones", async () => {
    const s = scene();
    await served(s, async (server, url) => {
      await servedTwice(url, s.prog);
      // Same inode, same size, same build ID: only its .comment text and its times change.
      const before = readFileSync(s.prog);
      const at = before.indexOf("GCC: (");
      expect(at).toBeGreaterThan(0);
      const fd = openSync(s.prog, "r+");
      writeSync(fd, Buffer.from("gcc"), 0, 3, at);
      closeSync(fd);
      // No request between: the held descriptor meets the rescan's stamp, which its file has now.
      await server.rescan();
      const after = await get(url);
      expect(after.status).toBe(200);
      const body = Buffer.from(await after.arrayBuffer());
      expect(body.equals(before)).toBe(false);
      expect(body.equals(readFileSync(s.prog))).toBe(true);
    });
  });

  it("a file served once, then replaced by another: the new file is never sent for the old stamp", async () => {
    const s = scene();
    await served(s, async (server, url) => {
      expect((await get(url).then(async (r) => [r.status, await r.arrayBuffer()]))[0]).toBe(200);
      copyFileSync(tree.programs[1]!.executable, join(s.dir, "next"));
      renameSync(join(s.dir, "next"), s.prog);
      const after = await get(url);
      await after.arrayBuffer();
      expect(after.status).toBe(404);
      expect(server.metrics.vanished).toBe(1);
    });
  });
});
