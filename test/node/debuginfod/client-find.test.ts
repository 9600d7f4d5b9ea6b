// find as debuginfod-find users expect it, each behaviour checked against elfutils' own
// debuginfod-find on the same servers: servers asked at once, retries, DEBUGINFOD_HEADERS_FILE,
// cache cleaning, -v / DEBUGINFOD_VERBOSE / DEBUGINFOD_PROGRESS, source files, a path in place of
// a build ID, and --json.
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer as createTcpServer, type Socket, type Server as TcpServer } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ArtifactNotFoundError, buildIdOf, cacheEntryPath, findArtifact } from "../../../src/node/debuginfod/client.js";
import { bundleCli } from "../../helpers/cli.js";
import { debuginfodFind, type FindRun, failure, runFind, startElfutils } from "./client-helpers.js";
import { makeTree, type Tree } from "./fixtures.js";

let tree: Tree;
let cli: string;
let elfutils: ChildProcess;
let elfutilsUrl: string;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.writeHead(404).end();
let server: Server;
let url: string;
const requests: IncomingMessage[] = [];

// A server that accepts connections and never answers.
let hung: TcpServer;
let hungUrl: string;
const held = new Set<Socket>();
/** Connections the hung server has accepted. */
let hungAccepted = 0;

beforeAll(async () => {
  tree = makeTree();
  [cli, { url: elfutilsUrl, process: elfutils }] = await Promise.all([
    bundleCli(join(tree.dir, "bundle")),
    startElfutils(tree),
  ]);
  server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hung = createTcpServer((socket) => {
    hungAccepted++;
    held.add(socket);
    socket.on("close", () => held.delete(socket));
    socket.on("error", () => {});
  });
  await new Promise<void>((r) => hung.listen(0, "127.0.0.1", r));
  hungUrl = `http://127.0.0.1:${(hung.address() as AddressInfo).port}`;
}, 120_000);
afterEach(() => {
  server.closeAllConnections();
  requests.length = 0;
});
afterAll(() => {
  elfutils?.kill("SIGTERM");
  server?.close();
  for (const s of held) s.destroy();
  hung?.close();
  rmSync(tree.dir, { recursive: true, force: true });
});

function freshCache(): string {
  return join(mkdtempSync(join(tree.dir, "client-")), "cache");
}

const theirs = (args: string[], env: NodeJS.ProcessEnv): Promise<FindRun> => debuginfodFind(args, env, tree.dir);
const ours = (args: string[], env: NodeJS.ProcessEnv): Promise<FindRun> =>
  runFind(cli, ["find", ...args], env, tree.dir);

describe("servers asked at once", () => {
  it("a hung first URL does not delay a good second one: answered before the hung server's timeout, as debuginfod-find answers", async () => {
    const p = tree.programs[0]!;
    // The hung URL alone costs the whole timeout; run beside it (the same start-up, 1-8 s at load 25-30),
    // both lookups end at least half the timeout before it does.
    const timeoutS = 10;
    const env = (urls: string): NodeJS.ProcessEnv => ({
      DEBUGINFOD_URLS: urls,
      DEBUGINFOD_TIMEOUT: String(timeoutS),
      DEBUGINFOD_RETRY_LIMIT: "0",
      DEBUGINFOD_CACHE_PATH: freshCache(),
    });
    const [alone, a, b] = await Promise.all([
      ours(["debuginfo", p.id], env(hungUrl)),
      ours(["debuginfo", p.id], env(`${hungUrl} ${elfutilsUrl}`)),
      theirs(["debuginfo", p.id], env(`${hungUrl} ${elfutilsUrl}`)),
    ]);
    expect(alone.code, alone.err).toBe(1);
    expect(alone.ms).toBeGreaterThanOrEqual(timeoutS * 1000);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    console.log(
      `hung first URL (timeout ${timeoutS} s): find ${a.ms.toFixed(0)} ms, debuginfod-find ${b.ms.toFixed(0)} ms, the hung URL alone ${alone.ms.toFixed(0)} ms`,
    );
    expect(a.ms).toBeLessThan(alone.ms - (timeoutS * 1000) / 2);
    expect(b.ms).toBeLessThan(alone.ms - (timeoutS * 1000) / 2);
  }, 180_000);

  it("ends once the answer is out: the hung server's request (socket, timers) does not hold the process, whose timeout and DEBUGINFOD_MAXTIME are far past the run's kill", async () => {
    const p = tree.programs[0]!;
    handler = (_req, res) => res.end(readFileSync(p.executable));
    const accepted = hungAccepted;
    const run = await ours(["executable", p.id], {
      DEBUGINFOD_URLS: `${hungUrl} ${url}`,
      DEBUGINFOD_TIMEOUT: "600",
      DEBUGINFOD_MAXTIME: "600",
      DEBUGINFOD_CACHE_PATH: freshCache(),
    });
    // Held by anything of the hung request, the process would be killed at WAIT_MS (60 s), long before 600 s.
    expect(run.code, run.err).toBe(0);
    expect(readFileSync(run.out)).toEqual(readFileSync(p.executable));
    expect(hungAccepted).toBe(accepted + 1);
  }, 120_000);

  it("does not wait for a hung server's timeout (the library, timeout 30 s: answered in a third of it)", async () => {
    const p = tree.programs[0]!;
    const timeoutMs = 30_000;
    const started = performance.now();
    const found = await findArtifact("debuginfo", p.id, {
      urls: [hungUrl, elfutilsUrl],
      cachePath: freshCache(),
      timeoutMs,
      env: {},
    });
    expect(found.source).toBe(elfutilsUrl);
    expect(performance.now() - started).toBeLessThan(timeoutMs / 3);
  }, 60_000);

  it("reads from the first server to answer 200 and cancels the others; asks them again when that answer is bad", async () => {
    const p = tree.programs[0]!;
    const good = readFileSync(p.executable);
    const other = readFileSync(tree.programs[1]!.executable);
    let slowClosed = false;
    handler = (req, res) => {
      if (req.url?.startsWith("/fast/")) return res.end(other); // first, and a file with another build ID
      req.socket.on("close", () => (slowClosed = true));
      setTimeout(() => res.end(good), 300);
    };
    const log: string[] = [];
    const found = await findArtifact("executable", p.id, {
      urls: [`${url}/fast`, `${url}/slow`],
      cachePath: freshCache(),
      log: (line) => log.push(line),
      env: {},
    });
    expect(found.source).toBe(`${url}/slow`);
    expect(readFileSync(found.path)).toEqual(good);
    expect(requests.map((r) => r.url!.split("/")[1]).sort()).toEqual(["fast", "slow", "slow"]);
    expect(slowClosed).toBe(true);
    expect(log).toContain("committed to url 0");
    expect(log).toContain("committed to url 1");
  });
});

describe("DEBUGINFOD_RETRY_LIMIT", () => {
  it("asks a server that resets the connection as often as debuginfod-find does, and succeeds once it answers", async () => {
    const p = tree.programs[0]!;
    handler = (req) => req.socket.resetAndDestroy();
    for (const limit of [undefined, "0", "1", "3"]) {
      const env = {
        DEBUGINFOD_URLS: `${url} ${url}/`, // one server: elfutils skips the duplicate
        ...(limit === undefined ? {} : { DEBUGINFOD_RETRY_LIMIT: limit }),
      };
      requests.length = 0;
      expect((await ours(["debuginfo", p.id], { ...env, DEBUGINFOD_CACHE_PATH: freshCache() })).code).toBe(1);
      const mine = requests.length;
      requests.length = 0;
      expect((await theirs(["debuginfo", p.id], { ...env, DEBUGINFOD_CACHE_PATH: freshCache() })).code).not.toBe(0);
      expect(mine, `DEBUGINFOD_RETRY_LIMIT=${limit}`).toBe(requests.length);
      expect(mine).toBe(limit === undefined ? 3 : Number(limit) + 1);
    }
    let drops = 2;
    handler = (req, res) => (drops-- > 0 ? req.socket.resetAndDestroy() : res.end(readFileSync(p.debuginfo)));
    const found = await findArtifact("debuginfo", p.id, { urls: [url], cachePath: freshCache(), env: {} });
    expect(readFileSync(found.path)).toEqual(readFileSync(p.debuginfo));
  }, 120_000);

  it("does not ask again after a 404, a wrong build ID or an answer over the size bound", async () => {
    const p = tree.programs[0]!;
    for (const answer of [
      (res: ServerResponse) => res.writeHead(404).end(),
      (res: ServerResponse) => res.end(readFileSync(tree.programs[1]!.executable)),
      (res: ServerResponse) => res.writeHead(200, { "X-DEBUGINFOD-SIZE": "999999999" }).end("x"),
    ]) {
      handler = (_req, res) => answer(res);
      requests.length = 0;
      await expect(
        findArtifact("executable", p.id, { urls: [url], cachePath: freshCache(), maxBytes: 1_000_000, env: {} }),
      ).rejects.toThrow(ArtifactNotFoundError);
      expect(requests.length).toBe(1);
    }
  });
});

describe("the environment's bounds", () => {
  it("takes 0 or a word as unset (elfutils' atol makes both 0) and cuts a time past the longest timer", async () => {
    handler = (_req, res) => res.writeHead(404).end();
    const bounds = async (env: NodeJS.ProcessEnv): Promise<string | undefined> => {
      const log: string[] = [];
      await failure(
        findArtifact("debuginfo", "ee".repeat(20), {
          urls: [url],
          cachePath: freshCache(),
          log: (l) => log.push(l),
          env,
        }),
      );
      return log.find((l) => l.startsWith("using timeout"));
    };
    expect(await bounds({ DEBUGINFOD_TIMEOUT: "0", DEBUGINFOD_MAXTIME: "abc", DEBUGINFOD_MAXSIZE: "0" })).toBe(
      "using timeout 90 s without progress, max time 1800 s, max size 4294967296 B",
    );
    expect(await bounds({ DEBUGINFOD_TIMEOUT: "5", DEBUGINFOD_MAXTIME: "99999999", DEBUGINFOD_MAXSIZE: "1000" })).toBe(
      "using timeout 5 s without progress, max time 2147483.647 s, max size 1000 B",
    );
  });
});

describe("DEBUGINFOD_HEADERS_FILE", () => {
  it("sends the file's headers and skips its bad lines, as debuginfod-find does", async () => {
    const p = tree.programs[0]!;
    const file = join(tree.dir, "headers");
    writeFileSync(
      file,
      [
        "Authorization: Bearer token-1",
        "",
        "   ",
        "no colon on this line",
        ":no-name",
        "X-Empty:",
        "X-Trace: a:b:c",
        "",
      ].join("\n"),
    );
    handler = (_req, res) => res.writeHead(404).end();
    const custom = (req: IncomingMessage): Record<string, string> =>
      Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => ["authorization", "x-trace", "x-empty", "bad name"].includes(k)),
      ) as Record<string, string>;
    const env = { DEBUGINFOD_URLS: url, DEBUGINFOD_HEADERS_FILE: file };
    const run = await ours(["debuginfo", p.id], { ...env, DEBUGINFOD_CACHE_PATH: freshCache() });
    expect(requests.length, run.err).toBe(1);
    const mine = custom(requests[0]!);
    requests.length = 0;
    await theirs(["debuginfo", p.id], { ...env, DEBUGINFOD_CACHE_PATH: freshCache() });
    expect(mine).toEqual(custom(requests[0]!));
    expect(mine).toEqual({ authorization: "Bearer token-1", "x-trace": "a:b:c" });

    // A name HTTP does not allow: libcurl sends it and the server refuses the request (400); it is skipped here.
    writeFileSync(file, "Bad Name: space in the name\nX-Trace: 1\n");
    const log: string[] = [];
    requests.length = 0;
    const ask = (env: NodeJS.ProcessEnv) =>
      failure(findArtifact("debuginfo", p.id, { urls: [url], cachePath: freshCache(), log: (l) => log.push(l), env }));
    expect((await ask({ DEBUGINFOD_HEADERS_FILE: file })).message).toContain(`${url}: HTTP 404`);
    expect(custom(requests[0]!)).toEqual({ "x-trace": "1" });
    expect(log).toContain(
      'skipping bad header: "Bad Name: space in the name": Header name must be a valid HTTP token ["Bad Name"]',
    );
    requests.length = 0;
    await ask({ DEBUGINFOD_HEADERS_FILE: join(tree.dir, "absent") });
    expect(requests.length).toBe(1);
    expect(log.some((l) => l.startsWith(`header file ${join(tree.dir, "absent")}: ENOENT`))).toBe(true);
  });
});

describe("cache cleaning by cache_clean_interval_s and max_unused_age_s", () => {
  const DAY = 86_400;
  // A cache whose cleaning is due: old and fresh entries, folders old and new, a recorded miss.
  function agedCache(): string {
    const cachePath = freshCache();
    const now = Date.now() / 1000;
    const file = (path: string, content: string, atimeAgo: number, mtimeAgo = atimeAgo): void => {
      mkdirSync(join(path, ".."), { recursive: true });
      writeFileSync(path, content);
      utimesSync(path, now - atimeAgo, now - mtimeAgo);
    };
    file(join(cachePath, "aa01", "debuginfo"), "old", 8 * DAY);
    file(join(cachePath, "aa01", "executable"), "fresh", 0, 8 * DAY);
    file(join(cachePath, "aa02", "debuginfo"), "old", 8 * DAY);
    file(join(cachePath, "aa03", "executable"), "fresh", DAY);
    file(join(cachePath, "aa05", "debuginfo"), "", 8 * DAY); // a recorded miss, unread for a week
    file(join(cachePath, "aa06", "sourcex.c"), "old", 6 * DAY);
    mkdirSync(join(cachePath, "aa04"));
    for (const folder of ["aa02", "aa03", "aa05", "aa06"]) utimesSync(join(cachePath, folder), now, now - 8 * DAY);
    file(join(cachePath, "cache_clean_interval_s"), "86400", 2 * DAY);
    file(join(cachePath, "not-an-id", "debuginfo"), "old", 8 * DAY);
    return cachePath;
  }
  const listing = (cachePath: string): string[] =>
    (readdirSync(cachePath, { recursive: true }) as string[]).filter((n) => !n.startsWith("ff")).sort();

  it("removes what elfutils' client removes, and keeps what it keeps", async () => {
    const missing = "ff".repeat(20);
    handler = (_req, res) => res.writeHead(404).end();
    const mineCache = agedCache();
    await ours(["debuginfo", missing], { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: mineCache });
    const theirCache = agedCache();
    await theirs(["debuginfo", missing], { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: theirCache });
    expect(listing(mineCache)).toEqual(listing(theirCache));
    expect(listing(mineCache)).toEqual(
      [
        "aa01",
        "aa01/executable",
        "aa03",
        "aa03/executable",
        "aa04",
        "aa06",
        "aa06/sourcex.c",
        "cache_clean_interval_s",
        "max_unused_age_s",
        "not-an-id",
        "not-an-id/debuginfo",
      ].sort(),
    );
    expect(readFileSync(join(mineCache, "max_unused_age_s"), "utf8")).toBe(
      readFileSync(join(theirCache, "max_unused_age_s"), "utf8"),
    );
    expect(Date.now() / 1000 - statSync(join(mineCache, "cache_clean_interval_s")).mtimeMs / 1000).toBeLessThan(DAY);
  });

  it("waits for the interval, honours the files' values, cleans sections too and never follows a link", async () => {
    handler = (_req, res) => res.writeHead(404).end();
    const cachePath = agedCache();
    const now = Date.now() / 1000;
    utimesSync(join(cachePath, "cache_clean_interval_s"), now, now - DAY / 2);
    const ask = () => failure(findArtifact("debuginfo", "ff".repeat(20), { urls: [url], cachePath, env: {} }));
    await ask();
    expect(existsSync(join(cachePath, "aa01", "debuginfo"))).toBe(true);
    expect(existsSync(join(cachePath, "max_unused_age_s"))).toBe(false);
    writeFileSync(join(cachePath, "cache_clean_interval_s"), "3600");
    writeFileSync(join(cachePath, "max_unused_age_s"), String(5 * DAY));
    utimesSync(join(cachePath, "cache_clean_interval_s"), now, now - 2 * 3600);
    const section = join(cachePath, "aa03", "section-.debug_info");
    writeFileSync(section, "old");
    utimesSync(section, now - 6 * DAY, now - 6 * DAY);
    const outside = mkdtempSync(join(tree.dir, "outside-"));
    writeFileSync(join(outside, "debuginfo"), "not the cache's");
    utimesSync(join(outside, "debuginfo"), now - 30 * DAY, now - 30 * DAY);
    symlinkSync(outside, join(cachePath, "bb01"));
    await ask();
    expect(existsSync(join(cachePath, "aa01", "debuginfo"))).toBe(false);
    expect(existsSync(join(cachePath, "aa06", "sourcex.c"))).toBe(false); // 6 days unread, past the file's 5
    expect(existsSync(join(cachePath, "aa03", "executable"))).toBe(true);
    expect(existsSync(section)).toBe(false);
    expect(readdirSync(outside)).toEqual(["debuginfo"]);
  });
});

describe("-v, DEBUGINFOD_VERBOSE and DEBUGINFOD_PROGRESS", () => {
  const p = () => tree.programs[1]!;

  it("-v prints progress lines, the X-DEBUGINFOD headers and the URL, as debuginfod-find -v", async () => {
    const env = (): NodeJS.ProcessEnv => ({ DEBUGINFOD_URLS: elfutilsUrl, DEBUGINFOD_CACHE_PATH: freshCache() });
    const mine = await ours(["-v", "debuginfo", p().id], env());
    const their = await theirs(["-v", "debuginfo", p().id], env());
    expect(mine.code).toBe(0);
    const downloaded = (err: string) => /^Downloaded from (.*)$/m.exec(err)?.[1];
    expect(downloaded(mine.err)).toBe(`${elfutilsUrl}/buildid/${p().id}/debuginfo`);
    expect(downloaded(mine.err)).toBe(downloaded(their.err));
    const headerNames = (err: string) =>
      [...(err.split("Headers:\n")[1] ?? "").matchAll(/^(x-debuginfod-[a-z-]+):/gim)]
        .map((m) => m[1]!.toLowerCase())
        .sort();
    expect(headerNames(mine.err)).toEqual(headerNames(their.err));
    expect(headerNames(mine.err)).toContain("x-debuginfod-size");
    expect(mine.err).toMatch(new RegExp(`^Progress \\d+ / ${statSync(p().debuginfo).size}$`, "m"));
  }, 60_000);

  it("DEBUGINFOD_VERBOSE (and -vv) log each URL and the one committed to, in elfutils' words", async () => {
    const env = (): NodeJS.ProcessEnv => ({
      DEBUGINFOD_URLS: `${url} ${elfutilsUrl}`,
      DEBUGINFOD_CACHE_PATH: freshCache(),
      DEBUGINFOD_VERBOSE: "1",
    });
    handler = (_req, res) => res.writeHead(404).end();
    const mine = await ours(["debuginfo", p().id], env());
    const their = await theirs(["debuginfo", p().id], env());
    for (const line of [
      `url 0 ${url}/buildid/${p().id}/debuginfo`,
      `url 1 ${elfutilsUrl}/buildid/${p().id}/debuginfo`,
      "query 2 urls in parallel",
      "committed to url 1",
    ]) {
      expect(their.err.split("\n"), line).toContain(line);
      expect(mine.err.split("\n"), line).toContain(line);
    }
    const vv = await ours(["-vv", "debuginfo", p().id], { ...env(), DEBUGINFOD_VERBOSE: undefined });
    expect(vv.err.split("\n")).toContain("committed to url 1");
  }, 60_000);

  it("DEBUGINFOD_PROGRESS prints elfutils' \\rDownloading from URL a/b line", async () => {
    const env = (): NodeJS.ProcessEnv => ({
      DEBUGINFOD_URLS: elfutilsUrl,
      DEBUGINFOD_CACHE_PATH: freshCache(),
      DEBUGINFOD_PROGRESS: "1",
    });
    const size = statSync(p().debuginfo).size;
    const line = new RegExp(`\\rDownloading from ${elfutilsUrl}/ \\d+/${size}`);
    const mine = await ours(["debuginfo", p().id], env());
    const their = await theirs(["debuginfo", p().id], env());
    expect(their.err).toMatch(line);
    expect(mine.err).toMatch(line);
    expect(mine.err.endsWith("\n")).toBe(true);
  }, 60_000);
});

describe("source files", () => {
  it("fetches a source file from elfutils' server into the entry debuginfod-find uses", async () => {
    const p = tree.programs[0]!;
    const source = join(tree.dir, "prog.c");
    const mineCache = freshCache();
    const found = await findArtifact("source", p.id, {
      file: source,
      urls: [elfutilsUrl],
      cachePath: mineCache,
      env: {},
    });
    expect(readFileSync(found.path, "utf8")).toBe(readFileSync(source, "utf8"));
    const theirCache = freshCache();
    const their = await theirs(["source", p.id, source], {
      DEBUGINFOD_URLS: elfutilsUrl,
      DEBUGINFOD_CACHE_PATH: theirCache,
    });
    expect(their.code, their.err).toBe(0);
    expect(found.path.slice(mineCache.length)).toBe(their.out.slice(theirCache.length));
    const mine = await ours(["source", p.id, source], {
      DEBUGINFOD_URLS: elfutilsUrl,
      DEBUGINFOD_CACHE_PATH: freshCache(),
    });
    expect(mine.code, mine.err).toBe(0);
  }, 60_000);

  it("sends a source path and names its cache entry byte for byte as debuginfod-find does, dot segments and all", async () => {
    const id = "0123456789abcdef";
    const file = "/usr/src/a b/../x+y(1)!~'*%é#/c.c";
    handler = (_req, res) => res.writeHead(404).end();
    const mineCache = freshCache();
    await ours(["source", id, file], { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: mineCache });
    const mine = requests.map((r) => r.url);
    requests.length = 0;
    const theirCache = freshCache();
    await theirs(["source", id, file], { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: theirCache });
    expect(mine).toEqual(requests.map((r) => r.url));
    expect(mine[0]).toContain("/a%20b/../");
    expect(readdirSync(join(mineCache, id))).toEqual(readdirSync(join(theirCache, id)));
    expect(readdirSync(join(mineCache, id))).toEqual([
      cacheEntryPath(mineCache, id, "source", file).slice(mineCache.length + id.length + 2),
    ]);
  }, 60_000);

  it("refuses a relative path, one too long for a cache file name, and a name for the wrong artifact", async () => {
    const id = "0123456789abcdef";
    await expect(findArtifact("source", id, { file: "src/a.c" })).rejects.toThrow(
      'file must be an absolute path (starting with /) for "source", got "src/a.c"',
    );
    await expect(findArtifact("source", id, { file: `/${"d/".repeat(100)}a.c` })).rejects.toThrow(
      /file escapes to a cache file name of \d+ bytes, more than 242: "\/d\/d/,
    );
    await expect(findArtifact("executable", id, { file: "/a.c" })).rejects.toThrow(
      'file is only for the "source" artifact, got "/a.c"',
    );
    // Both refuse it unasked; ours with the CLI's usage status.
    const mine = await ours(["source", id, "src/a.c"], { DEBUGINFOD_URLS: url });
    const their = await theirs(["source", id, "src/a.c"], { DEBUGINFOD_URLS: url });
    expect(mine.code).toBe(2);
    expect(mine.err).toBe(
      'buildid-cache: file must be an absolute path (starting with /) for "source", got "src/a.c"\n',
    );
    expect(their.code).toBe(1);
    expect((await ours(["symbols", id], { DEBUGINFOD_URLS: url })).code).toBe(2);
    expect((await ours(["section", "/usr/bin/nonexistent"], { DEBUGINFOD_URLS: url })).code).toBe(2);
    expect(requests.length).toBe(0);
  }, 60_000);
});

describe("a file in place of the build ID", () => {
  it("reads the build ID of the ELF file named, as debuginfod-find does", async () => {
    const p = tree.programs[0]!;
    expect(await buildIdOf(p.executable)).toBe(p.id);
    expect(await buildIdOf(p.id.toUpperCase())).toBe(p.id.toUpperCase());
    const env = (cachePath: string): NodeJS.ProcessEnv => ({
      DEBUGINFOD_URLS: elfutilsUrl,
      DEBUGINFOD_CACHE_PATH: cachePath,
    });
    const [a, b] = [freshCache(), freshCache()];
    const mine = await ours(["debuginfo", p.executable], env(a));
    const their = await theirs(["debuginfo", p.executable], env(b));
    expect(mine.code, mine.err).toBe(0);
    expect(mine.out.slice(a.length)).toBe(their.out.slice(b.length));
    expect(mine.out).toBe(cacheEntryPath(a, p.id, "debuginfo"));
  }, 60_000);

  it("refuses a file that is not ELF, a missing one and a FIFO, naming it", async () => {
    const text = join(tree.root, "bin", "README");
    const fifo = join(tree.dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const env = { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: freshCache() };
    for (const [path, message] of [
      [text, `buildid-cache: ${text}: not an ELF file`],
      [join(tree.dir, "absent"), `buildid-cache: ${join(tree.dir, "absent")}: ENOENT: no such file or directory`],
      [fifo, `buildid-cache: ${fifo} is a FIFO, not a regular file`],
    ] as const) {
      const mine = await ours(["debuginfo", path], env);
      expect(mine.code).toBe(1);
      expect(mine.err.startsWith(message), mine.err).toBe(true);
    }
    expect(requests.length).toBe(0);
  }, 60_000);
});

describe("--json", () => {
  it("prints the path, where it came from, the size, the URL and the X-DEBUGINFOD headers", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    const mine = await ours(["--json", "section", p.id, ".debug_info"], {
      DEBUGINFOD_URLS: elfutilsUrl,
      DEBUGINFOD_CACHE_PATH: cachePath,
    });
    expect(mine.code, mine.err).toBe(0);
    const path = cacheEntryPath(cachePath, p.id, "section", ".debug_info");
    const json = JSON.parse(mine.out) as Record<string, unknown>;
    expect(json).toEqual({
      artifact: "section",
      buildId: p.id,
      section: ".debug_info",
      path,
      source: elfutilsUrl,
      size: statSync(path).size,
      url: `${elfutilsUrl}/buildid/${p.id}/section/.debug_info`,
      headers: expect.objectContaining({ "x-debuginfod-size": String(statSync(path).size) }),
    });
    const again = JSON.parse(
      (await ours(["--json", "section", p.id, ".debug_info"], { DEBUGINFOD_CACHE_PATH: cachePath })).out,
    );
    expect(again).toEqual({
      artifact: "section",
      buildId: p.id,
      section: ".debug_info",
      path,
      source: "cache",
      size: json.size,
    });
  }, 60_000);
});
