// serve forwarding to upstreams that misbehave, and the rules of forwarding: an upstream on
// 127.0.0.2 that drips, lies about sizes, sends another file's build ID, redirects to itself or
// resets is a 502 soon and leaves nothing in the cache; X-Forwarded-For grows and stops as elfutils'
// server grows and stops it (elfutils beside us, on the same stub); no forwarded request goes back
// to the address it came from; identical requests share one query, and turns are counted per depth.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { MAX_REDIRECTS } from "../../../src/node/debuginfod/client-http.js";
import { type DebuginfodServer, type ServeOptions, serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { SPLIT_HORIZON_MESSAGE, TTL_MESSAGE } from "../../../src/node/debuginfod/upstream.js";
import { startElfutilsWith } from "./client-helpers.js";
import { emptyFolder, filesUnder } from "./federation-helpers.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get as fetchGet } from "./http.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let tree: Tree;
let empty: string;
let stub: Server;
let stubUrl: string;
let handler: Handler;
/** What the stub was asked: path and X-Forwarded-For of each request. */
let asked: { path: string; xff: string | undefined; ua: string | undefined }[] = [];
const timers = new Set<NodeJS.Timeout>();
const servers: { server: DebuginfodServer; index: BuildIdIndex }[] = [];
let cacheCount = 0;

beforeAll(async () => {
  tree = makeTree();
  empty = emptyFolder(tree.dir, "empty");
  stub = createServer((req, res) => {
    const xff = req.headers["x-forwarded-for"];
    asked.push({ path: req.url ?? "", xff: Array.isArray(xff) ? xff.join(", ") : xff, ua: req.headers["user-agent"] });
    handler(req, res);
  });
  await new Promise<void>((resolve) => stub.listen(0, "127.0.0.2", resolve));
  stubUrl = `http://127.0.0.2:${(stub.address() as AddressInfo).port}`;
}, 120_000);
afterEach(async () => {
  for (const t of timers) clearInterval(t);
  timers.clear();
  stub.closeAllConnections();
  for (const { server, index } of servers.splice(0)) {
    await server.close();
    index.dispose();
  }
  asked = [];
});
afterAll(() => {
  stub?.close();
  rmSync(tree.dir, { recursive: true, force: true });
});

function cachePath(): string {
  return join(tree.dir, `cache-${cacheCount++}`);
}

/** serve over an empty root with the stub as its one upstream. */
async function front(upstream: Partial<NonNullable<ServeOptions["upstream"]>> = {}, more: ServeOptions = {}) {
  const index = await BuildIdIndex.create({ roots: [empty] });
  await index.scan();
  const options = { urls: [stubUrl], cachePath: cachePath(), env: {}, retries: 0, ...upstream };
  const server = await serveDebuginfod(index, { port: 0, upstream: options, ...more });
  servers.push({ server, index });
  return { server, cache: options.cachePath };
}

/** GET `url` with `headers`: status, body and time taken. */
async function ask(url: string, headers: Record<string, string> = {}) {
  const t0 = performance.now();
  const r = await fetchGet(url, { headers });
  const body = Buffer.from(await r.arrayBuffer());
  return { status: r.status, body, text: body.toString("utf8"), ms: performance.now() - t0 };
}

/** The stub answers `bytes` as a debuginfod server would. */
function sends(bytes: Buffer, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, {
      "Content-Length": String(bytes.length),
      "X-DEBUGINFOD-SIZE": String(bytes.length),
      "X-DEBUGINFOD-FILE": "prog.debug",
      ...headers,
    });
    res.end(bytes);
  };
}

const debugOf = (n: number): Buffer => readFileSync(tree.programs[n]!.debuginfo);
const pathOf = (n: number, artifact = "debuginfo"): string => `/buildid/${tree.programs[n]!.id}/${artifact}`;
const entries = (cache: string): string[] => filesUnder(cache).filter((f) => /\/(debuginfo|executable)/.test(f));

describe("a hostile upstream is a 502, soon, and leaves nothing in the cache", () => {
  it("drips a byte every 100 ms: abandoned at the query's bound", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Length": "1000" });
      const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write("x")), 100);
      timers.add(t);
    };
    const maxTimeMs = 1500;
    const { server, cache } = await front({ maxTimeMs });
    const r = await ask(server.url + pathOf(0));
    expect(r.status).toBe(502);
    expect(r.text).toMatch(/maxTimeMs \(1500 ms\) passed/);
    expect(r.ms).toBeLessThan(1000 * 100); // well before the drip would end
    expect(r.ms).toBeGreaterThanOrEqual(maxTimeMs - 50);
    expect(entries(cache)).toEqual([]);
    expect(server.metrics.upstream?.outcomes).toEqual({ failed: 1 });
  }, 60_000);

  it("lies about sizes: an X-DEBUGINFOD-SIZE or a Content-Length the body does not have", async () => {
    const bytes = debugOf(0);
    const { server, cache } = await front();
    handler = sends(bytes, { "X-DEBUGINFOD-SIZE": String(bytes.length + 1) });
    const r1 = await ask(server.url + pathOf(0));
    expect([r1.status, r1.text]).toEqual([502, expect.stringMatching(/X-DEBUGINFOD-SIZE said/)]);
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Length": String(bytes.length + 4096) });
      res.write(bytes, () => res.socket?.destroy());
    };
    const r2 = await ask(server.url + pathOf(0, "executable"));
    expect([r2.status, r2.text]).toEqual([502, expect.stringMatching(/after \d+ of \d+ bytes/)]);
    expect(entries(cache)).toEqual([]);
  }, 60_000);

  it("sends more than the byte bound, declared or not: refused before the byte past it is kept", async () => {
    const bytes = debugOf(0);
    const maxBytes = 1000;
    const { server, cache } = await front({ maxBytes });
    handler = sends(bytes);
    const declared = await ask(server.url + pathOf(0));
    expect([declared.status, declared.text]).toEqual([502, expect.stringMatching(/more than the limit of 1000/)]);
    handler = (_req, res) => {
      res.writeHead(200); // chunked: no length said
      res.end(bytes);
    };
    const undeclared = await ask(server.url + pathOf(0, "executable"));
    expect([undeclared.status, undeclared.text]).toEqual([502, expect.stringMatching(/more than the limit of 1000/)]);
    expect(entries(cache)).toEqual([]);
  }, 60_000);

  it("sends another file's build ID: refused, and the next request asks again", async () => {
    handler = sends(debugOf(1));
    const { server, cache } = await front();
    for (let n = 1; n <= 2; n++) {
      const r = await ask(server.url + pathOf(0));
      expect([r.status, r.text]).toEqual([502, expect.stringMatching(/build ID is .*, not /)]);
      expect(asked.length).toBe(n);
    }
    expect(entries(cache)).toEqual([]);
  }, 60_000);

  it("redirects to itself: given up after the client's bound of redirects", async () => {
    handler = (req, res) => res.writeHead(302, { Location: req.url }).end();
    const { server } = await front({ retries: 2 });
    const r = await ask(server.url + pathOf(0));
    expect([r.status, r.text]).toEqual([
      502,
      expect.stringMatching(new RegExp(`more than ${MAX_REDIRECTS} redirects`)),
    ]);
    expect(asked.length).toBe(MAX_REDIRECTS + 1); // not asked again: another try gets the same answer
  }, 60_000);

  it("resets every connection: asked again retries times, then 502", async () => {
    handler = (req) => req.socket.destroy();
    const retries = 2;
    const { server, cache } = await front({ retries });
    const r = await ask(server.url + pathOf(0));
    expect([r.status, r.text]).toEqual([502, expect.stringMatching(/socket hang up|ECONNRESET/)]);
    expect(asked.length).toBe(retries + 1);
    expect(entries(cache)).toEqual([]);
  }, 60_000);

  it("a 404 from every upstream is a 404, recorded: the next request asks no upstream", async () => {
    handler = (_req, res) => res.writeHead(404).end("not found\n");
    const { server } = await front();
    for (let n = 0; n < 2; n++) expect((await ask(server.url + pathOf(0))).status).toBe(404);
    expect(asked.length).toBe(1);
    expect(server.metrics.upstream?.outcomes).toEqual({ missing: 1, cached_miss: 1 });
  }, 60_000);
});

describe("X-Forwarded-For, as elfutils' server grows and stops it", () => {
  it("adds the requester's address, passes the User-Agent, and forwards nothing at --forwarded-ttl-limit hops", async () => {
    handler = (_req, res) => res.writeHead(404).end();
    const { server } = await front();
    const relay = await startElfutilsWith(tree.dir, emptyFolder(tree.dir, "relay"), {
      DEBUGINFOD_URLS: stubUrl,
      DEBUGINFOD_CACHE_PATH: cachePath(),
    });
    try {
      for (const hops of [0, 1, 7, 8, 9]) {
        const xff = Array.from({ length: hops }, (_, i) => `10.0.0.${i + 1}`).join(", ");
        const said: string[] = [];
        for (const [who, url] of [
          ["elfutils", relay.url],
          ["serve", server.url],
        ] as const) {
          asked = [];
          const id = `${who === "serve" ? "5e" : "e1"}${String(hops).padStart(6, "0")}${"00".repeat(16)}`;
          const r = await ask(`${url}/buildid/${id}/debuginfo`, {
            ...(hops ? { "X-Forwarded-For": xff } : {}),
            "User-Agent": "federation-test/1",
          });
          said.push(`${hops} hops: ${r.status}, upstream got ${JSON.stringify(asked.map((a) => [a.xff, a.ua]))}`);
          if (who === "serve" && hops >= 8) expect(r.text).toBe(`${TTL_MESSAGE}\n`);
        }
        expect(said[1]).toBe(said[0]);
      }
    } finally {
      relay.process.kill("SIGTERM");
    }
  }, 120_000);

  it("asks upstream for a section only when no indexed debuginfo has the ID, as elfutils' server does", async () => {
    handler = (_req, res) => res.writeHead(404).end();
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    const server = await serveDebuginfod(index, {
      port: 0,
      upstream: { urls: [stubUrl], cachePath: cachePath(), env: {}, retries: 0 },
    });
    servers.push({ server, index });
    const relay = await startElfutilsWith(
      tree.dir,
      tree.root,
      { DEBUGINFOD_URLS: stubUrl, DEBUGINFOD_CACHE_PATH: cachePath() },
      [pathOf(0)],
    );
    try {
      for (const path of [
        `/buildid/${tree.programs[0]!.id}/section/.no_such_section`,
        `/buildid/${"77".repeat(20)}/section/.text`,
      ]) {
        const said: string[] = [];
        for (const url of [relay.url, server.url]) {
          asked = [];
          const r = await ask(url + path);
          said.push(`${path}: ${r.status}, upstream asked ${asked.length} time(s)`);
        }
        expect(said[1]).toBe(said[0]);
      }
    } finally {
      relay.process.kill("SIGTERM");
    }
  }, 120_000);

  it("never sends a forwarded request back to an upstream at the address it came from", async () => {
    handler = sends(debugOf(0));
    const { server } = await front();
    // From the stub's own address (127.0.0.2) with X-Forwarded-For: the stub is the server that missed.
    const from = (localAddress: string, headers: Record<string, string>) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        get(`${server.url}${pathOf(0)}`, { localAddress, headers }, (res) => {
          let text = "";
          res.on("data", (c: Buffer) => {
            text += c.toString("latin1");
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        }).on("error", reject);
      });
    expect(await from("127.0.0.2", { "X-Forwarded-For": "10.0.0.1" })).toEqual({
      status: 404,
      text: `${SPLIT_HORIZON_MESSAGE}\n`,
    });
    expect(asked.length).toBe(0);
    // The same from elsewhere, or from there but not forwarded (a client on that host), is forwarded.
    expect((await from("127.0.0.3", { "X-Forwarded-For": "10.0.0.1" })).status).toBe(200);
    expect(asked.map((a) => a.xff)).toEqual(["10.0.0.1, 127.0.0.3"]);
    expect(server.metrics.upstream?.outcomes).toEqual({ split_horizon: 1, found: 1 });
  }, 60_000);
});

describe("queries: shared, taken in turns per depth, bounded", () => {
  it("five identical requests at once make one upstream request and get the same file", async () => {
    const bytes = debugOf(0);
    handler = (req, res) => {
      const t = setTimeout(() => sends(bytes)(req, res), 500);
      timers.add(t);
    };
    const { server } = await front();
    const all = await Promise.all(Array.from({ length: 5 }, () => ask(server.url + pathOf(0))));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    for (const r of all) expect(r.body.equals(bytes)).toBe(true);
    expect(asked.length).toBe(1);
    expect(server.metrics.upstream?.joined).toBe(4);
  }, 60_000);

  it("with one turn, a second query waits; a forwarded one (another depth) does not", async () => {
    const held: ServerResponse[] = [];
    handler = (_req, res) => void held.push(res);
    const { server } = await front({ concurrency: 1 });
    const until = async (what: () => boolean): Promise<void> => {
      for (let i = 0; i < 600 && !what(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(what()).toBe(true);
    };
    const id = (n: number) => `/buildid/${String(n).padStart(2, "0")}${"ab".repeat(19)}/debuginfo`;
    const a = ask(server.url + id(1));
    await until(() => held.length === 1);
    const b = ask(server.url + id(2));
    await until(() => server.metrics.upstream!.waiting === 1);
    expect(held.length).toBe(1);
    const c = ask(server.url + id(3), { "X-Forwarded-For": "10.0.0.1" });
    await until(() => held.length === 2);
    expect(server.metrics.upstream!.waiting).toBe(1);
    for (const res of held.splice(0)) res.writeHead(404).end();
    await until(() => held.length === 1); // b's turn came
    held[0]!.writeHead(404).end();
    expect((await Promise.all([a, b, c])).map((r) => r.status)).toEqual([404, 404, 404]);
    expect(asked.map((r) => r.path)).toEqual([id(1), id(3), id(2)]);
  }, 60_000);

  it("a query that waits past the query bound for its turn is a 503", async () => {
    // a holds the turn until its bound; of b and c, one at least still waits then (b's query, if it got the turn, runs a bound more).
    handler = () => {}; // never answers
    const maxTimeMs = 2000;
    const { server } = await front({ concurrency: 1, maxTimeMs });
    const id = (n: number) => `/buildid/${String(n).padStart(2, "0")}${"cd".repeat(19)}/debuginfo`;
    const all = await Promise.all([1, 2, 3].map((n) => ask(server.url + id(n))));
    expect(all[0]!.status).toBe(502);
    const waited = all.slice(1).map((r) => r.status);
    expect(waited).toContain(503);
    expect(waited.every((s) => s === 502 || s === 503)).toBe(true);
    expect(server.metrics.upstream?.outcomes.busy).toBe(waited.filter((s) => s === 503).length);
  }, 60_000);

  it("the requester waits past the server's idle and header timeouts while an upstream takes its time", async () => {
    const bytes = debugOf(0);
    handler = (req, res) => {
      const t = setTimeout(() => sends(bytes)(req, res), 1500);
      timers.add(t);
    };
    const { server } = await front({}, { idleTimeoutMs: 300, headersTimeoutMs: 300 });
    const r = await ask(server.url + pathOf(0));
    expect(r.status).toBe(200);
    expect(r.body.equals(bytes)).toBe(true);
  }, 60_000);
});

describe("refusals of the forwarding itself", () => {
  it("a cache it cannot use is a 503 naming the errno, with no upstream asked", async () => {
    handler = sends(debugOf(0));
    const file = join(tree.dir, "a-file");
    writeFileSync(file, "not a folder\n");
    const { server } = await front({ cachePath: join(file, "cache") });
    const r = await ask(server.url + pathOf(0));
    expect([r.status, r.text]).toEqual([503, "the upstream cache cannot be used (ENOTDIR)\n"]);
    expect(asked.length).toBe(0);
  }, 60_000);

  it("a source path the cache cannot name is a 400 naming it, with no upstream asked", async () => {
    handler = sends(debugOf(0));
    const { server } = await front();
    const r = await ask(`${server.url}/buildid/${tree.programs[0]!.id}/source/${"a".repeat(300)}.c`);
    expect([r.status, r.text]).toEqual([
      400,
      expect.stringMatching(/escapes to a cache file name of \d+ bytes, more than 242/),
    ]);
    expect(asked.length).toBe(0);
  }, 60_000);

  it("refuses bad upstream options with typed errors naming the value, before anything listens", async () => {
    const index = await BuildIdIndex.create({ roots: [empty] });
    try {
      const refused = async (upstream: NonNullable<ServeOptions["upstream"]>) =>
        serveDebuginfod(index, { port: 0, upstream }).then(
          async (s) => {
            await s.close();
            return "served";
          },
          (error: Error) => `${error.name}: ${error.message}`,
        );
      expect(await refused({ urls: ["ftp://example.org/"] })).toBe(
        'RangeError: upstream URL must be an http or https URL, got "ftp://example.org/"',
      );
      expect(await refused({ urls: [stubUrl], concurrency: 0 })).toBe(
        "RangeError: concurrency must be an integer >= 1, got 0",
      );
      expect(await refused({ urls: [stubUrl], forwardedTtlLimit: -1 })).toBe(
        "RangeError: forwardedTtlLimit must be an integer >= 0, got -1",
      );
      expect(await refused({ urls: [stubUrl], maxTimeMs: 1.5 })).toBe(
        "RangeError: maxTimeMs must be an integer from 1 to 2147483647, got 1.5",
      );
    } finally {
      index.dispose();
    }
  }, 60_000);
});
