// A hit's response as the server builds it once per indexed file (server.ts: headers remembered by
// the lookup cache's file, bodies cut from a shared slab, reads.ts): each response is still the
// file's own bytes and headers, as the file system says them, through ranges, HEAD, a replacement
// and a rescan.
import {
  appendFileSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
} from "node:fs";
import { connect } from "node:net";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";

const IDS = [0, 1, 2, 3].map((n) => `${n}7${"9a".repeat(19)}`);

let tree: Tree;
beforeAll(() => {
  tree = makeTree(IDS);
});
afterAll(() => {
  rmSync(tree.dir, { recursive: true, force: true });
});

/** A root holding a copy of every program and debug file, and a database path beside it. */
function scene(): { root: string; db: string; files: { id: string; executable: string; debuginfo: string }[] } {
  const dir = mkdtempSync(join(tree.dir, "hits-"));
  const root = join(dir, "root");
  mkdirSync(join(root, "a"), { recursive: true });
  const files = tree.programs.map((p, n) => {
    const executable = join(root, "a", `prog${n}`);
    const debuginfo = join(root, "a", `prog${n}.debug`);
    copyFileSync(p.executable, executable);
    copyFileSync(p.debuginfo, debuginfo);
    return { id: p.id, executable, debuginfo };
  });
  return { root, db: join(dir, "index.sqlite"), files };
}

/** The headers a hit on all of `path` must carry, from the file system's own `stat`. */
function expected(path: string): Record<string, string> {
  const stat = statSync(path);
  return {
    "content-length": String(stat.size),
    "x-debuginfod-size": String(stat.size),
    "x-debuginfod-file": basename(path),
    "last-modified": new Date(Math.floor(stat.mtimeMs)).toUTCString(),
  };
}

const picked = (response: Response, names: readonly string[]): Record<string, string | null> =>
  Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));

describe("a hit's response", () => {
  it("carries the file's own headers and bytes through a range, HEAD, a replacement and a rescan", async () => {
    const s = scene();
    const index = await BuildIdIndex.open(s.db, { roots: [s.root] });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    const { id, executable } = s.files[0]!;
    const url = `${server.url}/buildid/${id}/executable`;
    try {
      const want = expected(executable);
      const names = Object.keys(want);
      const size = statSync(executable).size;
      const range = await get(url, { headers: { Range: "bytes=16-31" } });
      expect(range.status).toBe(206);
      expect(range.headers.get("content-range")).toBe(`bytes 16-31/${size}`);
      expect(range.headers.get("content-length")).toBe("16");
      expect(Buffer.from(await range.arrayBuffer())).toEqual(readFileSync(executable).subarray(16, 32));
      for (let n = 0; n < 2; n++) {
        const whole = await get(url);
        expect(whole.status).toBe(200);
        expect(whole.headers.get("content-range")).toBeNull();
        expect(picked(whole, names)).toEqual(want);
        expect(Buffer.from(await whole.arrayBuffer())).toEqual(readFileSync(executable));
      }
      const head = await get(url, { method: "HEAD" });
      expect(head.status).toBe(200);
      expect(picked(head, names)).toEqual(want);
      // Another file in its place: longer, and modified at another time.
      const next = `${executable}.next`;
      copyFileSync(executable, next);
      appendFileSync(next, Buffer.alloc(3000, 7));
      utimesSync(next, 1_000_000_000, 1_000_000_000);
      rmSync(executable);
      copyFileSync(next, executable);
      utimesSync(executable, 1_000_000_000, 1_000_000_000);
      rmSync(next);
      await server.rescan();
      const after = await get(url);
      expect(after.status).toBe(200);
      expect(picked(after, names)).toEqual(expected(executable));
      expect(after.headers.get("last-modified")).toBe(new Date(1_000_000_000_000).toUTCString());
      expect(Buffer.from(await after.arrayBuffer())).toEqual(readFileSync(executable));
    } finally {
      await server.close();
      index.dispose();
    }
  });

  it("bodies sent at once, many in flight on one connection (pipelined, unread), are each their own file's bytes", async () => {
    const s = scene();
    const index = await BuildIdIndex.open(s.db, { roots: [s.root] });
    await index.scan();
    const server = await serveDebuginfod(index, { port: 0 });
    try {
      const asked = s.files.flatMap((f) => [
        { target: `/buildid/${f.id}/executable`, path: f.executable },
        { target: `/buildid/${f.id}/debuginfo`, path: f.debuginfo },
      ]);
      // Responses queued behind one another hold their bodies while later ones are read.
      const rounds = Array.from({ length: 16 }, () => asked).flat();
      const bodies = await pipelined(
        server.port,
        rounds.map((r) => r.target),
      );
      expect(bodies).toHaveLength(rounds.length);
      for (const [n, { path }] of rounds.entries()) {
        expect(bodies[n]!.status, path).toBe(200);
        expect(bodies[n]!.body.equals(readFileSync(path)), `${n}: ${path}`).toBe(true);
      }
    } finally {
      await server.close();
      index.dispose();
    }
  });
});

/** Sends every GET of `targets` at once on one connection, reads nothing until all are written, then the responses in order. */
function pipelined(port: number, targets: readonly string[]): Promise<{ status: number; body: Buffer }[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    socket.pause();
    const chunks: Buffer[] = [];
    const got: { status: number; body: Buffer }[] = [];
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      let buffered = Buffer.concat(chunks);
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) break;
        const head = buffered.subarray(0, end).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? Number.NaN);
        if (buffered.length < end + 4 + length) break;
        got.push({
          status: Number(head.split(" ")[1]),
          body: Buffer.from(buffered.subarray(end + 4, end + 4 + length)),
        });
        buffered = buffered.subarray(end + 4 + length);
      }
      chunks.length = 0;
      chunks.push(buffered);
      if (got.length === targets.length) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.write(targets.map((t) => `GET ${t} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join(""), () => {
      setTimeout(() => socket.resume(), 200);
    });
  });
}
