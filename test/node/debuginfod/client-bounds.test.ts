// find against hostile servers and a hostile cache: a server that drips (DEBUGINFOD_MAXTIME and the
// default total bound, beside debuginfod-find), gzip bodies, a CLI killed mid-download, stale
// temporary files, symbolic links planted in the cache, and a cache on a read-only file system.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
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
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  ArtifactNotFoundError,
  CacheWriteError,
  cacheEntryPath,
  DEFAULT_MAX_TIME_S,
  findArtifact,
} from "../../../src/node/debuginfod/client.js";
import { bundleCli } from "../../helpers/cli.js";
import { failure, debuginfodFind as find, WAIT_MS } from "./client-helpers.js";
import { makeTree, type Tree } from "./fixtures.js";

let tree: Tree;
let cli: string;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.writeHead(404).end();
let asked = 0;
let server: Server;
let url: string;
const drips = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  tree = makeTree();
  cli = await bundleCli(join(tree.dir, "bundle"));
  server = createServer((req, res) => {
    asked++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);
afterEach(() => {
  for (const t of drips) clearInterval(t);
  drips.clear();
  server.closeAllConnections();
});
afterAll(() => {
  server?.close();
  rmSync(tree.dir, { recursive: true, force: true });
});

function freshCache(): string {
  return join(mkdtempSync(join(tree.dir, "client-")), "cache");
}

/** Answers 200 with a Content-Length of `total` bytes, then sends one byte every `everyMs`. */
function drip(total: number, everyMs: number): Handler {
  return (_req, res) => {
    res.writeHead(200, { "Content-Length": String(total) });
    const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write("x")), everyMs);
    drips.add(t);
  };
}

/** Every file under `dir`, relative, sorted ([] when it does not exist). */
function files(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}

const debuginfodFind = (args: string[], env: NodeJS.ProcessEnv) => find(args, env, tree.dir);

describe("a total bound on every query", () => {
  it("abandons a server dripping a byte a second at DEBUGINFOD_MAXTIME, as debuginfod-find does, and leaves nothing", async () => {
    const p = tree.programs[0]!;
    handler = drip(100_000, 1000); // would take 28 hours
    const maxTimeS = 2;
    const cachePath = freshCache();
    const started = performance.now();
    const error = await failure<Error>(
      findArtifact("debuginfo", p.id, {
        urls: [url],
        cachePath,
        env: { DEBUGINFOD_MAXTIME: String(maxTimeS) },
      }),
    );
    const ours = performance.now() - started;
    expect(error).toBeInstanceOf(ArtifactNotFoundError);
    expect(error.message).toContain(`${url}: DEBUGINFOD_MAXTIME (${maxTimeS} s) passed`);
    expect(ours).toBeGreaterThanOrEqual(maxTimeS * 1000 - 50);
    expect(ours).toBeLessThan(maxTimeS * 1000 + 20_000);
    expect(files(join(cachePath, p.id))).toEqual([]);

    const theirs = await debuginfodFind(["debuginfo", p.id], {
      DEBUGINFOD_URLS: url,
      DEBUGINFOD_CACHE_PATH: freshCache(),
      DEBUGINFOD_MAXTIME: String(maxTimeS),
    });
    expect(theirs.code).not.toBe(0);
    expect(ours).toBeLessThan(theirs.ms + 5_000);
  }, 120_000);

  it("abandons it at maxTimeMs, the option that overrides the default bound, with DEBUGINFOD_MAXTIME unset", async () => {
    handler = drip(100_000, 1000);
    const started = performance.now();
    await expect(
      findArtifact("debuginfo", tree.programs[0]!.id, {
        urls: [url],
        cachePath: freshCache(),
        maxTimeMs: 1500,
        env: {},
      }),
    ).rejects.toThrow("maxTimeMs (1500 ms) passed");
    expect(performance.now() - started).toBeLessThan(1500 + 20_000);
  }, 60_000);

  it("with nothing set, ends the query at the default bound of 30 minutes (fake timers, so no wait)", async () => {
    expect(DEFAULT_MAX_TIME_S).toBe(30 * 60);
    handler = drip(100_000, 1000);
    asked = 0;
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      // The no-progress bound is set past the total one, so only the total bound can end it.
      const pending = failure(
        findArtifact("debuginfo", tree.programs[0]!.id, {
          urls: [url],
          cachePath: freshCache(),
          timeoutMs: 2 ** 31 - 1,
          env: {},
        }),
      );
      let settled = false;
      void pending.then(() => (settled = true));
      while (asked === 0) await new Promise((r) => setImmediate(r));
      await vi.advanceTimersByTimeAsync(DEFAULT_MAX_TIME_S * 1000 - 1000);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1000);
      const error = await pending;
      expect(error.message).toContain(`the default bound of ${DEFAULT_MAX_TIME_S} s (DEBUGINFOD_MAXTIME unset) passed`);
    } finally {
      vi.useRealTimers();
    }
  }, 60_000);
});

describe("encoded bodies", () => {
  it("keeps a gzip body whose Content-Length is the compressed size, as debuginfod-find keeps it", async () => {
    const p = tree.programs[0]!;
    const plain = readFileSync(p.debuginfo);
    const packed = gzipSync(plain);
    expect(packed.length).toBeLessThan(plain.length);
    handler = (req, res) => {
      expect(req.headers["accept-encoding"]).toMatch(/gzip/);
      res.writeHead(200, {
        "Content-Encoding": "gzip",
        "Content-Length": String(packed.length),
        "X-DEBUGINFOD-SIZE": String(plain.length),
      });
      res.end(packed);
    };
    const found = await findArtifact("debuginfo", p.id, { urls: [url], cachePath: freshCache(), env: {} });
    expect(found.size).toBe(plain.length);
    expect(readFileSync(found.path)).toEqual(plain);
    const theirCache = freshCache();
    expect(
      (await debuginfodFind(["debuginfo", p.id], { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: theirCache })).code,
    ).toBe(0);
    expect(readFileSync(cacheEntryPath(theirCache, p.id, "debuginfo"))).toEqual(plain);
  }, 60_000);

  it("refuses a gzip body cut short, one that decodes past maxBytes, and an encoding it did not ask for; stores nothing", async () => {
    const p = tree.programs[0]!;
    const packed = gzipSync(readFileSync(p.debuginfo));
    const cachePath = freshCache();
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Encoding": "gzip", "Content-Length": String(packed.length) });
      res.end(packed.subarray(0, packed.length >> 1));
      res.destroy();
    };
    await expect(findArtifact("debuginfo", p.id, { urls: [url], cachePath, env: {} })).rejects.toThrow(
      ArtifactNotFoundError,
    );
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Encoding": "gzip", "Content-Length": String(bomb.length) });
      res.end(bomb);
    };
    await expect(
      findArtifact("debuginfo", p.id, { urls: [url], cachePath, maxBytes: 1024 * 1024, env: {} }),
    ).rejects.toThrow(`${url}: more than the limit of ${1024 * 1024} bytes`);
    handler = (_req, res) => {
      res.writeHead(200, { "Content-Encoding": "zstd" });
      res.end("whatever");
    };
    await expect(findArtifact("debuginfo", p.id, { urls: [url], cachePath, env: {} })).rejects.toThrow(
      'Content-Encoding "zstd" is not one this client asked for',
    );
    expect(files(join(cachePath, p.id))).toEqual([]);
  }, 300_000); // 46 s of a 60 s bound in the whole suite at load 30 under nice 10 (gzip of 64 MiB in this process)
});

describe("redirects and base URLs", () => {
  it("follows a redirect, gives up after 8, and refuses one to another scheme or a base that is not http", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    handler = (req, res) => {
      if (req.url === `/moved/buildid/${p.id}/executable`) res.end(readFileSync(p.executable));
      else if (req.url?.startsWith("/loop")) res.writeHead(302, { Location: `/loop${req.url.length}` }).end();
      else if (req.url?.startsWith("/file")) res.writeHead(301, { Location: "file:///etc/passwd" }).end();
      else res.writeHead(307, { Location: `/moved${req.url}` }).end();
    };
    const found = await findArtifact("executable", p.id, { urls: [url], cachePath, env: {} });
    expect(readFileSync(found.path)).toEqual(readFileSync(p.executable));
    const error = await failure(
      findArtifact("debuginfo", p.id, { urls: [`${url}/loop`, `${url}/file`, "file:///tmp"], cachePath, env: {} }),
    );
    expect(error.message).toContain(`${url}/loop: more than 8 redirects`);
    expect(error.message).toContain(`${url}/file: redirected to "file:///etc/passwd", not an http or https URL`);
    expect(error.message).toContain("file:///tmp: a file: URL, not http or https");
  });

  it("does not send the headers file's credentials on to another origin a redirect names", async () => {
    const p = tree.programs[0]!;
    const seen: (string | undefined)[] = [];
    const other = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.end(readFileSync(p.executable));
    });
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    try {
      handler = (req, res) => {
        seen.push(req.headers.authorization);
        if (req.url?.startsWith("/same/")) res.writeHead(302, { Location: `/moved${req.url}` }).end();
        else if (req.url?.startsWith("/moved/")) res.end(readFileSync(p.executable));
        else res.writeHead(302, { Location: `${otherUrl}${req.url}` }).end();
      };
      const headersFile = join(tree.dir, "credentials");
      writeFileSync(headersFile, "Authorization: Bearer secret\nCookie: a=b\n");
      const env = { DEBUGINFOD_HEADERS_FILE: headersFile };
      await findArtifact("executable", p.id, { urls: [`${url}/same`], cachePath: freshCache(), env });
      expect(seen).toEqual(["Bearer secret", "Bearer secret"]);
      seen.length = 0;
      await findArtifact("executable", p.id, { urls: [url], cachePath: freshCache(), env });
      expect(seen).toEqual(["Bearer secret", undefined]);
      seen.length = 0;
      const their = await debuginfodFind(["executable", p.id], {
        ...env,
        DEBUGINFOD_URLS: url,
        DEBUGINFOD_CACHE_PATH: freshCache(),
      });
      expect(their.code, their.err).toBe(0);
      expect(seen).toEqual(["Bearer secret", undefined]); // libcurl drops them too
    } finally {
      other.close();
    }
  });

  it("says it needs procfs when /proc is not mounted (a mount namespace with an empty /proc)", async (context) => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    const script = `mount -t tmpfs tmpfs /proc && exec "$0" "$@"`;
    const run = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(
        "unshare",
        ["--mount", "--propagation", "private", "sh", "-c", script, process.execPath, cli, "find", "debuginfo", p.id],
        {
          stdio: ["ignore", "ignore", "pipe"],
          env: { PATH: process.env.PATH, DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: cachePath },
        },
      );
      let err = "";
      child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
      child.on("error", () => resolve({ code: null, err: "unshare is missing" }));
      child.on("close", (code) => resolve({ code, err }));
    });
    if (run.code !== 1 || !run.err.startsWith("buildid-cache:")) {
      return context.skip(`cannot run in a mount namespace here: ${run.err.split("\n")[0]}`);
    }
    expect(run.err).toBe(
      "buildid-cache: the debuginfod client needs procfs at /proc: it reaches cache entries through /proc/self/fd\n",
    );
  }, 60_000);
});

describe("temporary files", () => {
  // Runs the CLI's find with `env`; resolves once a temporary file holding bytes shows in `folder`.
  function findInChild(args: string[], env: NodeJS.ProcessEnv, folder: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, [cli, "find", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { PATH: process.env.PATH, HOME: tree.dir, ...env },
    });
    const deadline = Date.now() + WAIT_MS;
    return new Promise((resolve, reject) => {
      const poll = (): void => {
        const temp = files(folder).find((n) => /\.[0-9a-f]{12}$/.test(n) && statSync(join(folder, n)).size > 0);
        if (temp) resolve(child);
        else if (Date.now() > deadline || child.exitCode !== null) reject(new Error(`no temporary file in ${folder}`));
        else setTimeout(poll, 50);
      };
      poll();
    });
  }

  for (const [signal, status] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    it(`${signal} during a download exits ${status} and leaves no temporary file, nor the ID folder`, async () => {
      const p = tree.programs[0]!;
      handler = (_req, res) => {
        res.writeHead(200, { "Content-Length": String(4 * 1024 * 1024) });
        res.write(Buffer.alloc(1024 * 1024, 0x5a)); // then nothing more: the download hangs mid-way
      };
      const cachePath = freshCache();
      const child = await findInChild(
        ["debuginfo", p.id, "--no-progress"],
        { DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: cachePath },
        join(cachePath, p.id),
      );
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      child.kill(signal);
      expect(await exited).toBe(status);
      expect(files(cachePath)).toEqual([]);
    }, 120_000);
  }

  it("sweeps the ID folder's stale temporary files at start: ours, still writable, untouched for an hour; nothing else", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    const folder = join(cachePath, p.id);
    mkdirSync(folder, { recursive: true });
    const hoursAgo = (name: string, hours: number, mode: number): void => {
      writeFileSync(join(folder, name), "partial");
      chmodSync(join(folder, name), mode);
      const then = new Date(Date.now() - hours * 3600_000);
      utimesSync(join(folder, name), then, then);
    };
    hoursAgo("debuginfo.0123456789ab", 2, 0o600); // ours, stale: swept
    hoursAgo("section-.text.aaaaaaaaaaaa", 2, 0o600); // ours, stale: swept
    hoursAgo("executable.bbbbbbbbbbbb", 0.5, 0o600); // ours, but a live download may still write it
    hoursAgo("section-.note.cccccccccccc", 2, 0o400); // read-only: a finished entry of a section so named
    hoursAgo("debuginfo.AbC123", 2, 0o600); // elfutils' mkstemp name: not ours
    hoursAgo("debuginfo.tmp", 2, 0o600); // not our pattern
    handler = (_req, res) => res.writeHead(404).end();
    await expect(findArtifact("debuginfo", p.id, { urls: [url], cachePath, env: {} })).rejects.toThrow(
      ArtifactNotFoundError,
    );
    expect(files(folder)).toEqual(
      [
        "debuginfo",
        "debuginfo.AbC123",
        "debuginfo.tmp",
        "executable.bbbbbbbbbbbb",
        "section-.note.cccccccccccc",
      ].sort(),
    );
  });
});

describe("links planted in the cache", () => {
  it("never returns a section entry that is a symbolic link, and replaces the link, not its target, on download", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    const secret = join(tree.dir, "secret");
    writeFileSync(secret, "root:x:0:0:root:/root:/bin/bash\n");
    mkdirSync(join(cachePath, p.id), { recursive: true });
    const entry = cacheEntryPath(cachePath, p.id, "section", ".text");
    symlinkSync(secret, entry);
    const error = await failure<Error>(
      findArtifact("section", p.id, { section: ".text", urls: [], cachePath, env: {} }),
    );
    expect(error).toBeInstanceOf(ArtifactNotFoundError);
    expect(error.message).toContain(`cache: ${entry} is a symbolic link, not used`);
    const etc = cacheEntryPath(cachePath, p.id, "section", ".data");
    symlinkSync("/etc/passwd", etc);
    await expect(findArtifact("section", p.id, { section: ".data", urls: [], cachePath, env: {} })).rejects.toThrow(
      "is a symbolic link",
    );
    handler = (_req, res) => res.end("section bytes");
    const found = await findArtifact("section", p.id, { section: ".text", urls: [url], cachePath, env: {} });
    expect(found.path).toBe(entry);
    expect(statSync(entry, { throwIfNoEntry: false })?.isFile()).toBe(true);
    expect(readFileSync(entry, "utf8")).toBe("section bytes");
    expect(readFileSync(secret, "utf8")).toBe("root:x:0:0:root:/root:/bin/bash\n");
  });

  it("never reads from nor writes into an ID folder that is a symbolic link out of the cache", async () => {
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    mkdirSync(cachePath, { recursive: true });
    const outside = mkdtempSync(join(tree.dir, "outside-"));
    writeFileSync(join(outside, "executable"), readFileSync(p.executable));
    symlinkSync(outside, join(cachePath, p.id));
    handler = (_req, res) => res.end(readFileSync(p.executable));
    asked = 0;
    const error = await failure<CacheWriteError>(findArtifact("executable", p.id, { urls: [url], cachePath, env: {} }));
    expect(error).toBeInstanceOf(CacheWriteError);
    expect(error.code).toBe("ELOOP");
    expect(error.message).toBe(
      `cannot write the debuginfod cache at ${join(cachePath, p.id)}: a symbolic link, not a folder: the cache never writes through one`,
    );
    expect(asked).toBe(0);
    expect(readdirSync(outside)).toEqual(["executable"]);
    await expect(findArtifact("executable", p.id, { urls: [], cachePath, env: {} })).rejects.toThrow(
      `cache: ${join(cachePath, p.id)} is a symbolic link, not a folder, not used`,
    );
  });
});

describe("a cache on a read-only file system", () => {
  const mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts) execFileSync("umount", [m]);
  });
  // Mounts an empty read-only tmpfs at a new folder; undefined (with the reason) when mounting is not permitted here.
  function readOnlyMount(): string | { skip: string } {
    const at = mkdtempSync(join(tree.dir, "ro-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", at], { stdio: "pipe" });
    } catch (error) {
      return { skip: `mount -t tmpfs -o ro is not permitted here: ${(error as Error).message.split("\n")[0]}` };
    }
    mounts.push(at);
    return at;
  }

  it("says EROFS and names the path, asking no server, where it said ENOENT", async (context) => {
    const at = readOnlyMount();
    if (typeof at !== "string") return context.skip(at.skip);
    const p = tree.programs[0]!;
    handler = (_req, res) => res.end(readFileSync(p.executable));
    asked = 0;
    const cachePath = join(at, "cache");
    const error = await failure<CacheWriteError>(findArtifact("executable", p.id, { urls: [url], cachePath, env: {} }));
    expect(error).toBeInstanceOf(CacheWriteError);
    expect(error.code).toBe("EROFS");
    expect(error.message).toBe(`cannot write the debuginfod cache at ${cachePath}: EROFS: read-only file system`);
    expect(asked).toBe(0);
  });

  it("says EACCES and names the folder when the cache is another user's (the CLI as nobody)", async (context) => {
    if (process.getuid?.() !== 0) return context.skip("needs root to run the CLI as another user");
    const p = tree.programs[0]!;
    const cachePath = freshCache();
    mkdirSync(cachePath, { mode: 0o755 });
    chmodSync(join(cachePath, ".."), 0o755);
    execFileSync("chmod", ["-R", "a+rX", join(tree.dir, "bundle")]);
    chmodSync(tree.dir, 0o755);
    handler = (_req, res) => res.end(readFileSync(p.executable));
    asked = 0;
    const run = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, [cli, "find", "executable", p.id], {
        stdio: ["ignore", "ignore", "pipe"],
        env: { PATH: process.env.PATH, HOME: cachePath, DEBUGINFOD_URLS: url, DEBUGINFOD_CACHE_PATH: cachePath },
        uid: 65534,
        gid: 65534,
      });
      let err = "";
      child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
      child.on("close", (code) => resolve({ code, err }));
    });
    expect(run.err).toBe(
      `buildid-cache: cannot write the debuginfod cache at ${join(cachePath, p.id)}: EACCES: permission denied\n`,
    );
    expect(run.code).toBe(1);
    expect(asked).toBe(0);
  }, 60_000);

  it("answers what a read-only cache holds, and names the ID folder it cannot make", async (context) => {
    const [held, other] = tree.programs as [(typeof tree.programs)[0], (typeof tree.programs)[0]];
    const cachePath = freshCache();
    handler = (_req, res) => res.end(readFileSync(held.executable));
    await findArtifact("executable", held.id, { urls: [url], cachePath, env: {} });
    try {
      execFileSync("mount", ["--bind", "-o", "ro", cachePath, cachePath], { stdio: "pipe" });
    } catch (error) {
      return context.skip(`mount --bind -o ro is not permitted here: ${(error as Error).message.split("\n")[0]}`);
    }
    mounts.push(cachePath);
    expect(await findArtifact("executable", held.id, { urls: [url], cachePath, env: {} })).toMatchObject({
      source: "cache",
    });
    const error = await failure<CacheWriteError>(
      findArtifact("executable", other.id, { urls: [url], cachePath, env: {} }),
    );
    expect(error).toBeInstanceOf(CacheWriteError);
    expect(error.code).toBe("EROFS");
    expect(error.message).toBe(
      `cannot write the debuginfod cache at ${join(cachePath, other.id)}: EROFS: read-only file system`,
    );
  });
});
