// serve and elfutils' debuginfod as each other's upstream, checked with elfutils' own programs:
// every artifact through serve from elfutils and through elfutils from serve, byte for byte as
// debuginfod-find gets it from the server holding it; a loop of the two ends at once with 404 on
// both; and the client cache shared by serve and debuginfod-find, both ways.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { type DebuginfodServer, serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { debuginfodFind, type Elfutils, freePort, startElfutilsWith, WAIT_MS } from "./client-helpers.js";
import { emptyFolder, metricOf } from "./federation-helpers.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";

let tree: Tree;
let holder: Elfutils; // elfutils over the tree
const started: { close(): unknown }[] = [];

/**
 * Every artifact of a program: the arguments debuginfod-find takes after the build ID. Sections
 * first: elfutils' client cuts a section out of a debuginfo or executable it holds, asking nothing.
 */
function artifacts(): string[][] {
  return [
    ["section", ".debug_info"],
    ["section", ".text"],
    ["executable"],
    ["debuginfo"],
    ["source", join(tree.dir, "prog.c")],
  ];
}

/** What debuginfod-find gets of `args` from `url` alone, with a fresh cache: the file's bytes, or its exit status. */
async function fetched(url: string, args: string[]): Promise<string> {
  const home = mkdtempSync(join(tree.dir, "home-"));
  const run = await debuginfodFind(args, { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: join(home, "cache") }, home);
  if (run.code !== 0) return `exit ${run.code}: ${run.err.trim().split("\n").at(-1)}`;
  return readFileSync(run.out).toString("base64");
}

async function serveOver(root: string, options: Parameters<typeof serveDebuginfod>[1] = {}): Promise<DebuginfodServer> {
  const index = await BuildIdIndex.create({ roots: [root] });
  await index.scan();
  const server = await serveDebuginfod(index, { port: 0, ...options });
  started.push({ close: () => server.close().then(() => index.dispose()) });
  return server;
}

function elfutils(root: string, env: NodeJS.ProcessEnv, ready: string[] = [], port?: number): Promise<Elfutils> {
  return startElfutilsWith(tree.dir, root, env, ready, port).then((e) => {
    started.push({ close: () => e.process.kill("SIGTERM") });
    return e;
  });
}

const cacheIn = (name: string): string => join(mkdtempSync(join(tree.dir, `${name}-`)), "cache");

beforeAll(async () => {
  tree = makeTree();
  holder = await elfutils(
    tree.root,
    {},
    tree.programs.map((p) => `/buildid/${p.id}/debuginfo`),
  );
}, 120_000);
afterAll(async () => {
  for (const s of started) await s.close();
  rmSync(tree.dir, { recursive: true, force: true });
});

describe("serve forwarding to elfutils' debuginfod", () => {
  it("serves every artifact elfutils holds (source too), as debuginfod-find gets it from elfutils", async () => {
    const lines: string[] = [];
    const server = await serveOver(emptyFolder(tree.dir, "empty"), {
      upstream: { urls: [holder.url], cachePath: cacheIn("serve"), env: {} },
      requestLog: (line) => lines.push(line),
    });
    for (const p of tree.programs) {
      for (const args of artifacts()) {
        const direct = await fetched(holder.url, [args[0]!, p.id, ...args.slice(1)]);
        expect(direct).not.toMatch(/^exit/); // elfutils holds each one
        expect(`${args.join(" ")}: ${await fetched(server.url, [args[0]!, p.id, ...args.slice(1)])}`).toBe(
          `${args.join(" ")}: ${direct}`,
        );
      }
    }
    expect(lines.filter((l) => / upstream -$/.test(l)).length).toBe(tree.programs.length * artifacts().length);
  }, 240_000);

  it("says the headers elfutils' server says when it forwards to elfutils: an upstream answer's, then a cached one's", async () => {
    const server = await serveOver(emptyFolder(tree.dir, "empty"), {
      upstream: { urls: [holder.url], cachePath: cacheIn("serve"), env: {} },
    });
    const relay = await elfutils(emptyFolder(tree.dir, "empty"), {
      DEBUGINFOD_URLS: holder.url,
      DEBUGINFOD_CACHE_PATH: cacheIn("relay"),
    });
    const headers = async (url: string): Promise<string> => {
      const r = await get(url);
      await r.arrayBuffer();
      const names = ["x-debuginfod-file", "x-debuginfod-archive", "content-length", "last-modified"];
      return `${r.status} ${names.map((n) => `${n}=${r.headers.get(n)}`).join(" ")}`;
    };
    for (const p of tree.programs) {
      for (const path of [`/buildid/${p.id}/debuginfo`, `/buildid/${p.id}/section/.text`]) {
        for (const round of ["upstream", "cached"]) {
          const theirs = await headers(relay.url + path);
          expect(theirs).toMatch(/^200 /);
          expect(`${round} ${path}: ${await headers(server.url + path)}`).toBe(`${round} ${path}: ${theirs}`);
        }
      }
    }
  }, 240_000);

  it("answers a second request from the cache, asking elfutils nothing", async () => {
    const server = await serveOver(emptyFolder(tree.dir, "empty"), {
      upstream: { urls: [holder.url], cachePath: cacheIn("serve"), env: {} },
    });
    const p = tree.programs[0]!;
    const path = `/buildid/${p.id}/debuginfo`;
    const asked = (): Promise<number> => metricOf(holder.url, 'http_requests_total{type="debuginfo"}');
    const before = await asked();
    const first = Buffer.from(await (await get(server.url + path)).arrayBuffer());
    const between = await asked();
    const second = Buffer.from(await (await get(server.url + path)).arrayBuffer());
    expect(between).toBe(before + 1);
    expect(await asked()).toBe(between);
    expect(second.equals(first)).toBe(true);
    expect(second.equals(readFileSync(p.debuginfo))).toBe(true);
    expect(server.metrics.upstream?.outcomes).toEqual({ found: 1, cached: 1 });
  }, 120_000);
});

describe("elfutils' debuginfod forwarding to serve", () => {
  it("gets every artifact serve holds, as debuginfod-find gets it from serve, and tells serve who asked", async () => {
    const lines: string[] = [];
    const server = await serveOver(tree.root, { requestLog: (line) => lines.push(line) });
    const front = await elfutils(emptyFolder(tree.dir, "empty"), {
      DEBUGINFOD_URLS: server.url,
      DEBUGINFOD_CACHE_PATH: cacheIn("elfutils"),
    });
    for (const p of tree.programs) {
      for (const args of artifacts().filter((a) => a[0] !== "source")) {
        const direct = await fetched(server.url, [args[0]!, p.id, ...args.slice(1)]);
        expect(direct).not.toMatch(/^exit/);
        expect(`${args.join(" ")}: ${await fetched(front.url, [args[0]!, p.id, ...args.slice(1)])}`).toBe(
          `${args.join(" ")}: ${direct}`,
        );
      }
    }
    // Requests elfutils forwarded carry the address of the client it forwarded for.
    expect(lines.filter((l) => / index 127\.0\.0\.1$/.test(l)).length).toBe(tree.programs.length * 4);
  }, 240_000);
});

describe("serve and elfutils as each other's upstream", () => {
  it("ends a request for a missing ID at once with 404 on both, a bounded number of requests on each side", async () => {
    const timeoutMs = WAIT_MS;
    let server!: DebuginfodServer;
    let other!: Elfutils;
    // Each names the other: serve first, with the port elfutils is then started on (again if another process took it).
    for (let attempt = 1; !other; attempt++) {
      const elfutilsPort = await freePort();
      server = await serveOver(emptyFolder(tree.dir, "empty"), {
        upstream: { urls: [`http://127.0.0.1:${elfutilsPort}`], cachePath: cacheIn("serve"), env: {}, timeoutMs },
      });
      other = await elfutils(
        emptyFolder(tree.dir, "empty"),
        { DEBUGINFOD_URLS: server.url, DEBUGINFOD_CACHE_PATH: cacheIn("elfutils") },
        [],
        elfutilsPort,
      ).catch((error: unknown) => {
        if (attempt === 5) throw error;
        return undefined as unknown as Elfutils;
      });
    }
    const count = (url: string): Promise<number> => metricOf(url, 'http_requests_total{type="debuginfo"}');
    for (const [n, first] of [server.url, other.url].entries()) {
      const id = `dead${String(n).padStart(4, "0")}${"00".repeat(16)}`;
      const before = [await count(server.url), await count(other.url)];
      const t0 = performance.now();
      const r = await get(`${first}/buildid/${id}/debuginfo`);
      await r.arrayBuffer();
      const ms = performance.now() - t0;
      const asked = [(await count(server.url)) - before[0]!, (await count(other.url)) - before[1]!];
      expect(`${first}: ${r.status}`).toBe(`${first}: 404`);
      expect(ms).toBeLessThan(timeoutMs); // ended by the federation, not by a timeout
      expect(asked.every((a) => a >= 1 && a <= 2)).toBe(true); // the other side was asked, and asked back at most once
      const home = mkdtempSync(join(tree.dir, "home-"));
      const run = await debuginfodFind(
        ["debuginfo", `${id}ff`],
        { DEBUGINFOD_URLS: first, DEBUGINFOD_CACHE_PATH: join(home, "cache") },
        home,
      );
      expect(run.code).not.toBe(0);
      expect(run.err).toMatch(/No such file or directory/);
    }
  }, 240_000);
});

describe("the client cache, shared by serve and debuginfod-find", () => {
  it("what serve fetched, debuginfod-find finds offline; what debuginfod-find fetched, serve serves offline", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const [a, b] = tree.programs;
    const shared = cacheIn("shared");
    const server = await serveOver(emptyFolder(tree.dir, "empty"), {
      upstream: { urls: [holder.url], cachePath: shared, env: {} },
    });
    const r = await get(`${server.url}/buildid/${a!.id}/executable`);
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    const offline = await debuginfodFind(
      ["executable", a!.id],
      { DEBUGINFOD_URLS: dead, DEBUGINFOD_CACHE_PATH: shared },
      tree.dir,
    );
    expect(offline.out).toBe(join(shared, a!.id, "executable"));
    expect(readFileSync(offline.out).equals(readFileSync(a!.executable))).toBe(true);

    const theirs = cacheIn("theirs");
    const online = await debuginfodFind(
      ["section", b!.id, ".debug_info"],
      { DEBUGINFOD_URLS: holder.url, DEBUGINFOD_CACHE_PATH: theirs },
      tree.dir,
    );
    expect(online.code).toBe(0);
    const lines: string[] = [];
    const behind = await serveOver(emptyFolder(tree.dir, "empty"), {
      upstream: { urls: [dead], cachePath: theirs, env: {} },
      requestLog: (line) => lines.push(line),
    });
    const got = await get(`${behind.url}/buildid/${b!.id}/section/.debug_info`);
    expect(got.status).toBe(200);
    expect(Buffer.from(await got.arrayBuffer()).equals(readFileSync(online.out))).toBe(true);
    expect(lines.at(-1)).toMatch(/ 200 \d+ \d+ms cache -$/);
  }, 120_000);
});
