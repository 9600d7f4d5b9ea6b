// The server against elfutils' own client (debuginfod-find) and against hostile requests, on 127.0.0.1.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { type DebuginfodServer, serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { makeTree, run, type Tree } from "./fixtures.js";
import { get } from "./http.js";

let tree: Tree;
let index: BuildIdIndex;
let server: DebuginfodServer;
const HELD = 1000; // connections held open at once: modest for a shared 2-core machine

beforeAll(async () => {
  tree = makeTree();
  index = await BuildIdIndex.create({ roots: [tree.root] });
  await index.scan();
  // All from 127.0.0.1: the per-client limit (its own test in limits.test.ts) must not be what these tests meet.
  server = await serveDebuginfod(index, {
    port: 0,
    headersTimeoutMs: 2000,
    idleTimeoutMs: 5000,
    maxConnectionsPerClient: 4096,
  });
});
afterAll(async () => {
  await server.close();
  index.dispose();
  rmSync(tree.dir, { recursive: true, force: true });
});

function freshEnv(): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tree.dir, "home-"));
  return {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CACHE_HOME: join(home, "xdg"),
    DEBUGINFOD_CACHE_PATH: join(home, "cache"),
    DEBUGINFOD_URLS: server.url,
    DEBUGINFOD_TIMEOUT: "30",
  };
}

function debuginfodFind(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile("debuginfod-find", args, { env, timeout: 60_000 }, (error, out, err) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, out: out.trim(), err }),
    );
  });
}

function dumpSection(file: string, name: string): Buffer {
  const out = join(mkdtempSync(join(tree.dir, "dump-")), "section");
  run("objcopy", [`--dump-section=${name}=${out}`, file, join(tree.dir, "objcopy-scratch")]);
  return readFileSync(out);
}

// Sends raw bytes, returns everything the server answers until it closes (or 10 s pass).
function raw(request: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(server.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const done = (): void => resolve(Buffer.concat(chunks).toString("latin1"));
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on("data", (c) => chunks.push(c));
    socket.on("close", done);
    socket.on("error", () => {});
    socket.write(request);
  });
}

describe("debuginfod-find against serve", () => {
  it("fetches the executable and the debuginfo, byte for byte", async () => {
    for (const p of tree.programs) {
      for (const [kind, file] of [
        ["executable", p.executable],
        ["debuginfo", p.debuginfo],
      ] as const) {
        const env = freshEnv();
        const r = await debuginfodFind([kind, p.id], env);
        expect(r, r.err).toMatchObject({ code: 0 });
        expect(r.out).toBe(join(env.DEBUGINFOD_CACHE_PATH!, p.id, kind));
        expect(readFileSync(r.out)).toEqual(readFileSync(file));
      }
    }
    expect(server.metrics.hits).toBeGreaterThanOrEqual(4);
  });

  it("fetches a section from the debug file, or from the executable where the debug file has it as NOBITS", async () => {
    const p = tree.programs[0]!;
    for (const [name, file] of [
      [".debug_info", p.debuginfo],
      [".debug_line", p.debuginfo],
      [".text", p.executable],
    ] as const) {
      const env = freshEnv();
      const before = server.metrics.requests.section ?? 0;
      const r = await debuginfodFind(["section", p.id, name], env);
      expect(r, r.err).toMatchObject({ code: 0 });
      expect(server.metrics.requests.section).toBe(before + 1);
      expect(r.out).toBe(join(env.DEBUGINFOD_CACHE_PATH!, p.id, `section-${name}`));
      expect(readFileSync(r.out)).toEqual(dumpSection(file, name));
    }
    const bss = await debuginfodFind(["section", p.id, ".bss"], freshEnv());
    expect(bss.code).not.toBe(0);
    const unknown = await debuginfodFind(["executable", "00".repeat(20)], freshEnv());
    expect(unknown.code).not.toBe(0);
  });
});

describe("the web API", () => {
  const p = () => tree.programs[0]!;

  it("sends elfutils' headers, answers HEAD and ranges", async () => {
    const url = `${server.url}/buildid/${p().id}/executable`;
    const bytes = readFileSync(p().executable);
    const head = await get(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    expect(head.headers.get("x-debuginfod-size")).toBe(String(bytes.length));
    expect(head.headers.get("x-debuginfod-file")).toBe("prog0");
    expect(Date.parse(head.headers.get("last-modified")!)).toBeGreaterThan(0);
    expect(new Uint8Array(await head.arrayBuffer()).length).toBe(0);
    const part = await get(url, { headers: { Range: "bytes=16-31" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 16-31/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(16, 32));
    const tail = await get(url, { headers: { Range: "bytes=-8" } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 8));
    const beyond = await get(url, { headers: { Range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
    await beyond.arrayBuffer();
    const small = await get(url, { headers: { "X-DEBUGINFOD-MAXSIZE": "100" } });
    expect(small.status).toBe(406);
    await small.arrayBuffer();
  });

  it("answers 404 for unknown IDs and 400 for malformed ones", async () => {
    const status = async (path: string): Promise<number> => {
      const r = await get(`${server.url}${path}`);
      await r.arrayBuffer();
      return r.status;
    };
    expect(await status(`/buildid/${"ab".repeat(20)}/debuginfo`)).toBe(404);
    expect(await status(`/buildid/${p().id.toUpperCase()}/debuginfo`)).toBe(400);
    expect(await status("/buildid/abc/debuginfo")).toBe(400);
    expect(await status("/buildid/zz/debuginfo")).toBe(400);
    expect(await status(`/buildid/${p().id}/sources`)).toBe(400);
    expect(await status(`/buildid/${p().id}/section`)).toBe(400);
    expect(await status(`/buildid/${p().id}/executable/extra`)).toBe(400);
    expect(await status("/nothing")).toBe(404);
    const metrics = await (await get(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^buildid_misses_total [1-9]/m);
    expect(metrics).toMatch(/^scan_files 5$/m);
    expect(metrics).toMatch(/^http_responses_total\{code="400"\} [1-9]/m);
  });

  it("never serves a file outside the index, however the path is spelled", async () => {
    const passwd = readFileSync("/etc/passwd", "latin1").split("\n")[0]!;
    const id = p().id;
    const targets = [
      "/buildid/../../../../etc/passwd",
      "/buildid/%2e%2e/%2e%2e/etc/passwd/executable",
      `/buildid/${id}/executable/../../../../etc/passwd`,
      `/buildid/${id}/section/..%2f..%2f..%2fetc%2fpasswd`,
      `/buildid/${id}/section/%2fetc%2fpasswd`,
      `/buildid/${id}%00/executable`,
      "/buildid/%zz/executable",
      `/buildid/..%2f..%2f..%2fetc%2fpasswd/executable`,
      "//etc/passwd",
      "http://127.0.0.1/etc/passwd",
      "*",
    ];
    for (const target of targets) {
      const answer = await raw(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer, target).toMatch(/^HTTP\/1\.1 (400|404) /);
      expect(answer).not.toContain(passwd);
    }
    expect(await raw("DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 405 /);
    expect(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(64 * 1024)}\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 431 /,
    );
    expect(await raw("NOT HTTP AT ALL\r\n\r\n")).toMatch(/^HTTP\/1\.1 400 /);
  });

  it(`keeps serving while ${HELD} connections are held open, and closes the silent ones`, async () => {
    const held: Socket[] = [];
    await Promise.all(
      Array.from(
        { length: HELD },
        () =>
          new Promise<void>((resolve) => {
            const s = connect(server.port, "127.0.0.1", () => {
              s.write("GET /buildid/"); // a request that never ends
              resolve();
            });
            s.on("error", () => resolve());
            held.push(s);
          }),
      ),
    );
    const r = await get(`${server.url}/buildid/${p().id}/debuginfo`);
    expect(Buffer.from(await r.arrayBuffer())).toEqual(readFileSync(p().debuginfo));
    const closed = await Promise.all(
      held.map(
        (s) => new Promise<boolean>((resolve) => (s.destroyed ? resolve(true) : s.on("close", () => resolve(true)))),
      ),
    );
    expect(closed.length).toBe(HELD); // the header timeout (2 s here) ended each of them
    expect(server.metrics.clientErrors).toBeGreaterThanOrEqual(HELD);
  }, 120_000);

  it("caps connections, and survives a client that aborts a download", async () => {
    // No timeout can close a connection during the test: only the cap may.
    const slow = { headersTimeoutMs: 600_000, idleTimeoutMs: 600_000 };
    const cap = 20;
    const capped = await serveDebuginfod(index, {
      port: 0,
      maxConnections: cap,
      maxConnectionsPerClient: cap,
      ...slow,
    });
    const sockets = Array.from({ length: 60 }, () => {
      const s = connect(capped.port, "127.0.0.1");
      s.on("error", () => {});
      return s;
    });
    const refused = () => sockets.filter((s) => s.destroyed || s.readableEnded).length;
    // Polled: on a loaded machine the server may take a while to turn the extra sockets away.
    await expect.poll(refused, { timeout: 30_000, interval: 50 }).toBeGreaterThanOrEqual(sockets.length - cap);
    expect(refused()).toBe(sockets.length - cap);
    for (const s of sockets) s.destroy();
    // The server frees the slots as it sees the closes; until then a new connection may be turned away.
    let answer: Response | undefined;
    const status = async () => {
      answer = await get(`${capped.url}/buildid/${p().id}/executable`).catch(() => undefined);
      return answer?.status;
    };
    await expect.poll(status, { timeout: 30_000, interval: 100 }).toBe(200);
    await answer!.arrayBuffer();
    const abort = new AbortController();
    const started = await get(`${capped.url}/buildid/${p().id}/debuginfo`, { signal: abort.signal });
    expect(started.status).toBe(200);
    abort.abort();
    const after = await get(`${capped.url}/buildid/${p().id}/debuginfo`);
    expect(after.status).toBe(200);
    await after.arrayBuffer();
    await capped.close();
  });

  it("answers 503, not stale bytes, for a file changed since the scan", async () => {
    const other = makeTree([`cafe${"11".repeat(18)}`]);
    const local = await BuildIdIndex.create({ roots: [other.root] });
    await local.scan();
    const s = await serveDebuginfod(local, { port: 0 });
    const later = new Date(Date.now() + 10_000);
    utimesSync(other.programs[0]!.executable, later, later);
    const r = await get(`${s.url}/buildid/${other.programs[0]!.id}/executable`);
    expect(r.status).toBe(503);
    await r.arrayBuffer();
    expect(s.metrics.changed).toBe(1);
    await s.close();
    local.dispose();
    rmSync(other.dir, { recursive: true, force: true });
  });

  it("refuses bad options with typed errors naming the value", async () => {
    await expect(serveDebuginfod(index, { port: 70000 })).rejects.toThrow(
      /port must be an integer from 0 to 65535, got 70000/,
    );
    await expect(serveDebuginfod(index, { maxConnections: "x" as never })).rejects.toThrow(TypeError);
  });
});
