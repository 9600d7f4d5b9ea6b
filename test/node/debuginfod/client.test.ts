// The client against elfutils' own server (debuginfod -F), and the shared cache against debuginfod-find.
import type { ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { registerFind } from "../../../src/node/commands/find.js";
import { registerServe } from "../../../src/node/commands/serve.js";
import { commandContext } from "../../../src/node/commands/shared.js";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import {
  ArtifactNotFoundError,
  cacheEntryPath,
  debuginfodCachePath,
  findArtifact,
} from "../../../src/node/debuginfod/client.js";
import { debuginfodFind as find, freePort, startElfutils } from "./client-helpers.js";
import { makeTree, run, type Tree } from "./fixtures.js";

const MIB = 1024 * 1024;
let tree: Tree;
let elfutils: ChildProcess;
let elfutilsUrl: string;

beforeAll(async () => {
  tree = makeTree();
  ({ url: elfutilsUrl, process: elfutils } = await startElfutils(tree));
}, 90_000);
afterAll(() => {
  elfutils?.kill("SIGTERM");
  rmSync(tree.dir, { recursive: true, force: true });
});

/** What `debuginfod-find debuginfo ID` prints, with its cache at `cachePath` and `url` its one server. */
async function debuginfodFind(id: string, cachePath: string, url: string): Promise<string> {
  const run = await find(["debuginfo", id], { DEBUGINFOD_CACHE_PATH: cachePath, DEBUGINFOD_URLS: url }, tree.dir);
  if (run.code !== 0) throw new Error(run.err);
  return run.out;
}

function freshCache(): string {
  return join(mkdtempSync(join(tree.dir, "client-")), "cache");
}

describe("find against elfutils' debuginfod -F", () => {
  it("fetches executables, debuginfo and sections into elfutils' cache layout, byte for byte", async () => {
    for (const p of tree.programs) {
      const cachePath = freshCache();
      const options = { urls: [elfutilsUrl], cachePath, env: {} };
      const exe = await findArtifact("executable", p.id, options);
      expect(exe).toMatchObject({ path: join(cachePath, p.id, "executable"), source: elfutilsUrl });
      expect(readFileSync(exe.path)).toEqual(readFileSync(p.executable));
      const debug = await findArtifact("debuginfo", p.id, options);
      expect(debug.path).toBe(join(cachePath, p.id, "debuginfo"));
      expect(readFileSync(debug.path)).toEqual(readFileSync(p.debuginfo));
      const section = await findArtifact("section", p.id, { ...options, section: ".debug_info" });
      expect(section.path).toBe(join(cachePath, p.id, "section-.debug_info"));
      const dumped = join(tree.dir, `dump-${p.id}`);
      run("objcopy", [`--dump-section=.debug_info=${dumped}`, p.debuginfo, join(tree.dir, "scratch")]);
      expect(readFileSync(section.path)).toEqual(readFileSync(dumped));
      expect(statSync(join(cachePath, p.id)).isDirectory()).toBe(true);
      // A second call is answered from the cache, without a server.
      expect(await findArtifact("debuginfo", p.id, { cachePath, urls: [], env: {} })).toMatchObject({
        source: "cache",
      });
    }
  });

  it("shares its cache with debuginfod-find, which then needs no server", async () => {
    const p = tree.programs[1]!;
    const cachePath = freshCache();
    await findArtifact("debuginfo", p.id, { urls: [elfutilsUrl], cachePath, env: {} });
    const out = await debuginfodFind(p.id, cachePath, "http://127.0.0.1:9/");
    expect(out).toBe(join(cachePath, p.id, "debuginfo"));
  });

  it("leaves its cache entries read-only with the server's mtime, as debuginfod-find leaves its own", async () => {
    const p = tree.programs[0]!;
    const ours = await findArtifact("debuginfo", p.id, { urls: [elfutilsUrl], cachePath: freshCache(), env: {} });
    const theirCache = freshCache();
    await debuginfodFind(p.id, theirCache, elfutilsUrl);
    const theirs = statSync(join(theirCache, p.id, "debuginfo"));
    const mine = statSync(ours.path);
    expect((mine.mode & 0o777).toString(8)).toBe((theirs.mode & 0o777).toString(8));
    expect((mine.mode & 0o777).toString(8)).toBe("400");
    expect(Math.floor(mine.mtimeMs / 1000)).toBe(Math.floor(theirs.mtimeMs / 1000));
    expect(Math.floor(mine.mtimeMs / 1000)).toBe(Math.floor(statSync(p.debuginfo).mtimeMs / 1000));
    expect((statSync(join(ours.path, "..")).mode & 0o777).toString(8)).toBe(
      (statSync(join(theirCache, p.id)).mode & 0o777).toString(8),
    );
  });

  it("asks every server and names what each answered", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    const dead = `http://127.0.0.1:${await freePort()}`;
    const found = await findArtifact("executable", p.id, { urls: [dead, elfutilsUrl], cachePath, env: {} });
    expect(found.source).toBe(elfutilsUrl);
    const missing = "ab".repeat(20);
    const error = await findArtifact("executable", missing, { urls: [elfutilsUrl], cachePath, env: {} }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ArtifactNotFoundError);
    expect((error as Error).message).toContain(`${elfutilsUrl}: HTTP 404`);
    expect(statSync(cacheEntryPath(cachePath, missing, "executable")).size).toBe(0); // the miss, recorded
  });
});

describe("find's checks", () => {
  let liar: Server;
  let liarUrl: string;
  let mode: "other-file" | "short" | "silent" | "cut" | "endless" = "other-file";
  let cut = (): void => {};
  let sent = 0;
  beforeAll(async () => {
    liar = createServer((_req, res) => {
      if (mode === "silent") return; // never answers
      if (mode === "cut") {
        res.writeHead(200, { "Content-Length": String(4 * MIB) });
        res.write(Buffer.alloc(MIB, 0x5a));
        cut = () => res.destroy();
        return;
      }
      if (mode === "endless") {
        sent = 0;
        const chunk = Buffer.alloc(64 * 1024, 0x5a);
        const more = (): void => {
          while (!res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) break;
          }
          if (!res.destroyed) res.once("drain", more);
        };
        res.writeHead(200);
        more();
        return;
      }
      const other = readFileSync(tree.programs[1]!.executable);
      if (mode === "short") {
        res.writeHead(200, { "X-DEBUGINFOD-SIZE": String(other.length + 10) });
        res.end(other);
        return;
      }
      res.end(other);
    });
    await new Promise<void>((r) => liar.listen(0, "127.0.0.1", r));
    liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    liar.closeAllConnections();
    liar.close();
  });

  it("refuses a download whose build ID or size is wrong, and stores nothing", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    mode = "other-file";
    await expect(findArtifact("executable", p.id, { urls: [liarUrl], cachePath, env: {} })).rejects.toThrow(
      `sent a file whose build ID is ${tree.programs[1]!.id}, not ${p.id}`,
    );
    mode = "short";
    await expect(
      findArtifact("section", p.id, { section: ".text", urls: [liarUrl], cachePath, env: {} }),
    ).rejects.toThrow(/got \d+ bytes, (headers|X-DEBUGINFOD-SIZE) said \d+/);
    expect(existsSync(join(cachePath, p.id))).toBe(false);
  });

  it("streams into a temporary file beside the entry; a download cut short leaves nothing behind", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    mode = "cut";
    const pending = findArtifact("debuginfo", p.id, { urls: [liarUrl], cachePath, env: {} });
    const outcome = pending.catch((e: unknown) => e);
    const folder = join(cachePath, p.id);
    const deadline = Date.now() + 60_000;
    let partial: string[] = [];
    while (Date.now() < deadline) {
      partial = existsSync(folder) ? readdirSync(folder).filter((n) => statSync(join(folder, n)).size === MIB) : [];
      if (partial.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(partial).toEqual([expect.stringMatching(/^debuginfo\.[0-9a-f]{12}$/)]);
    cut();
    const error = await outcome;
    expect(error).toBeInstanceOf(ArtifactNotFoundError);
    expect(existsSync(cachePath) ? readdirSync(cachePath) : []).toEqual([]);
  });

  it("stops a download at maxBytes while it streams, and leaves nothing behind", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    mode = "endless";
    const maxBytes = MIB + 1;
    await expect(findArtifact("debuginfo", p.id, { urls: [liarUrl], cachePath, maxBytes, env: {} })).rejects.toThrow(
      `${liarUrl}: more than the limit of ${maxBytes} bytes`,
    );
    expect(sent).toBeGreaterThan(maxBytes);
    expect(existsSync(cachePath) ? readdirSync(cachePath) : []).toEqual([]);
  });

  it("gives up on a silent server after the timeout", async () => {
    mode = "silent";
    await expect(
      findArtifact("debuginfo", tree.programs[0]!.id, {
        urls: [liarUrl],
        cachePath: freshCache(),
        timeoutMs: 300,
        env: {},
      }),
    ).rejects.toThrow("no progress for 300 ms");
  });

  it("answers from the local index first, its own file for an executable, a cache entry for a section", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    expect(await findArtifact("executable", p.id, { index, urls: [], cachePath, env: {} })).toMatchObject({
      path: p.executable,
      source: "index",
    });
    const section = await findArtifact("section", p.id, {
      index,
      section: ".debug_line",
      urls: [],
      cachePath,
      env: {},
    });
    expect(section.path).toBe(cacheEntryPath(cachePath, p.id, "section", ".debug_line"));
    expect(section.source).toBe("index");
    index.dispose();
  });

  it("picks the cache directory as elfutils does, and escapes section names as it does", () => {
    expect(debuginfodCachePath({ DEBUGINFOD_CACHE_PATH: "/x/c", HOME: "/h" })).toBe("/x/c");
    expect(debuginfodCachePath({ XDG_CACHE_HOME: "/x", HOME: "/nonexistent-home" })).toBe("/x/debuginfod_client");
    expect(debuginfodCachePath({ HOME: "/nonexistent-home" })).toBe("/nonexistent-home/.cache/debuginfod_client");
    expect(cacheEntryPath("/c", "ab", "section", ".a/b#c")).toBe("/c/ab/section-.a##b#_c");
  });

  it("refuses bad arguments with typed errors naming the value", async () => {
    await expect(findArtifact("symbols" as never, "ab")).rejects.toThrow(/artifact must be one of .*got "symbols"/);
    await expect(findArtifact("executable", "abc")).rejects.toThrow(RangeError);
    await expect(findArtifact("section", "abcd")).rejects.toThrow(/section must be a section name, got undefined/);
    await expect(findArtifact("executable", "abcd", { section: ".text" })).rejects.toThrow(/only for the "section"/);
  });
});

describe("the negative cache, kept as elfutils keeps it", () => {
  let server: Server;
  let url: string;
  let status = 404;
  let asked = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      asked++;
      res.writeHead(status).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const missing = "cd".repeat(20);
  const find = (cachePath: string, urls = [url]) =>
    findArtifact("debuginfo", missing, { urls, cachePath, env: {} }).then(
      () => expect.unreachable("found an artifact no server has"),
      (e: unknown) => e as Error,
    );
  const ageBy = (path: string, seconds: number) => {
    const then = new Date(Date.now() - seconds * 1000);
    utimesSync(path, then, then);
  };

  it("records a miss when every server says 404, then asks no server, nor does debuginfod-find, while it stands", async () => {
    status = 404;
    const cachePath = freshCache();
    const entry = cacheEntryPath(cachePath, missing, "debuginfo");
    asked = 0;
    expect((await find(cachePath)).message).toContain(`${url}: HTTP 404`);
    expect(asked).toBe(1);
    expect(statSync(entry).size).toBe(0);
    const again = await find(cachePath);
    expect(again).toBeInstanceOf(ArtifactNotFoundError);
    expect(again.message).toMatch(/cache: a miss recorded \d+ s ago, within cache_miss_s \(600 s\)/);
    await expect(debuginfodFind(missing, cachePath, url)).rejects.toThrow();
    expect(asked).toBe(1);
  });

  it("asks again once the miss is older than cache_miss_s (600 s, or what the cache's file says), and records it anew", async () => {
    status = 404;
    const cachePath = freshCache();
    const entry = cacheEntryPath(cachePath, missing, "debuginfo");
    asked = 0;
    await find(cachePath);
    ageBy(entry, 590);
    await find(cachePath);
    expect(asked).toBe(1);
    ageBy(entry, 601);
    await find(cachePath);
    expect(asked).toBe(2);
    expect(Date.now() - statSync(entry).mtimeMs).toBeLessThan(60_000);
    writeFileSync(join(cachePath, "cache_miss_s"), "5");
    ageBy(entry, 10);
    expect((await find(cachePath)).message).toContain(`${url}: HTTP 404`);
    expect(asked).toBe(3);
  });

  it("honours a miss debuginfod-find recorded", async () => {
    status = 404;
    const cachePath = freshCache();
    asked = 0;
    await expect(debuginfodFind(missing, cachePath, url)).rejects.toThrow();
    expect(asked).toBe(1);
    expect(statSync(cacheEntryPath(cachePath, missing, "debuginfo")).size).toBe(0);
    expect((await find(cachePath)).message).toContain("cache: a miss recorded");
    expect(asked).toBe(1);
  });

  it("records nothing when a server failed or was down instead of saying 404", async () => {
    const cachePath = freshCache();
    const entry = cacheEntryPath(cachePath, missing, "debuginfo");
    status = 503;
    expect((await find(cachePath)).message).toContain(`${url}: HTTP 503`);
    expect(existsSync(entry)).toBe(false);
    status = 404;
    const dead = `http://127.0.0.1:${await freePort()}`;
    await find(cachePath, [url, dead]);
    expect(existsSync(entry)).toBe(false);
    await find(cachePath, [url]);
    expect(existsSync(entry)).toBe(true);
  });
});

describe("the find and serve commands", () => {
  it("find prints the path from a scanned root; serve is registered with its options", async () => {
    const context = commandContext();
    const program = registerFind(registerServe(new Command().exitOverride(), context), context);
    const printed: string[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      printed.push(String(chunk));
      return true;
    });
    const quiet = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const p = tree.programs[1]!;
      await program.parseAsync(["find", "debuginfo", p.id, "--root", tree.root, "--no-progress"], { from: "user" });
      expect(printed).toEqual([`${p.debuginfo}\n`]);
    } finally {
      write.mockRestore();
      quiet.mockRestore();
    }
    const serve = program.commands.find((c) => c.name() === "serve")!;
    expect(serve.options.map((o) => o.long)).toEqual([
      "--port",
      "--host",
      "--index",
      "--passive",
      "--include",
      "--exclude",
      "--rescan-time",
      "--groom-time",
      "--scan-batch",
      "--scan-file-dir",
      "--scan-deb-dir",
      "--scan-rpm-dir",
      "--disable-source-scan",
      "--no-progress",
      "--json",
      "--upstream",
      "--forwarded-ttl-limit",
      "--upstream-concurrency",
      "--max-connections",
      "--max-connections-per-client",
      "--serving-processes",
      "--concurrency",
      "--verbose",
    ]);
  });
});
