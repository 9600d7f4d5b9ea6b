// Answers that match the bytes, on 127.0.0.x: a section whose range is not wholly in the file is 404
// as elfutils' debuginfod answers on the same root (and debuginfod-find fails cleanly against ours), a
// file that shrinks while streamed ends its kept-alive connection at once, and one client address
// cannot take every connection.
import { type ChildProcess, execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SHT_NOBITS } from "../../../src/elf-constants.js";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { clientKey, serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { startElfutilsWith } from "./client-helpers.js";
import { makeTree, run, type Tree } from "./fixtures.js";
import { get as fetchGet } from "./http.js";
import { served } from "./served.js";

const GIB = 2 ** 30;

/** The four lies a section header can tell about its bytes, and how each is written into `.comment`'s header. */
const LIES: { name: string; patch: (header: Buffer, fileSize: number) => void }[] = [
  { name: "sh_size past the end (1 GiB)", patch: (h) => h.writeBigUInt64LE(BigInt(GIB), 0x20) },
  { name: "sh_offset past the end", patch: (h, size) => h.writeBigUInt64LE(BigInt(size + 4096), 0x18) },
  {
    name: "sh_offset + sh_size past 2^64",
    patch: (h) => {
      h.writeBigUInt64LE(0x100n, 0x18);
      h.writeBigUInt64LE(2n ** 64n - 0x80n, 0x20);
    },
  },
  { name: "SHT_NOBITS", patch: (h) => h.writeUInt32LE(SHT_NOBITS, 4) },
];
const idOf = (n: number): string => `5ec7${String(n).padStart(4, "0")}${"00".repeat(16)}`;

let dir: string;
let root: string;
let elfutils: ChildProcess | undefined;
let elfutilsUrl: string;

// Writes `lie` into the section header of `.comment` (its index from readelf -S -W) of the ELF64 file at `path`.
function tell(path: string, lie: (typeof LIES)[number]): void {
  const row = run("readelf", ["-S", "-W", path])
    .split("\n")
    .find((l) => / \.comment /.test(l));
  const index = Number(/\[\s*(\d+)\]/.exec(row!)![1]);
  const bytes = readFileSync(path);
  const header = bytes.subarray(Number(bytes.readBigUInt64LE(0x28)) + index * bytes.readUInt16LE(0x3a));
  lie.patch(header, bytes.length);
  writeFileSync(path, bytes);
}

// GET `url`: status and body length, or the transport error's text.
async function ask(url: string): Promise<string> {
  try {
    const r = await fetchGet(url, { signal: AbortSignal.timeout(60_000) });
    return `${r.status} ${(await r.arrayBuffer()).byteLength}`;
  } catch (error) {
    return `error ${String((error as Error).cause ?? error)}`;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "buildid-answers-"));
  root = join(dir, "root");
  mkdirSync(root);
  writeFileSync(join(dir, "p.c"), "int main(void) { return 0; }\n");
  LIES.forEach((lie, n) => {
    const path = join(root, `p${n}`);
    run("cc", ["-O1", `-Wl,--build-id=0x${idOf(n)}`, "-o", path, join(dir, "p.c")]);
    tell(path, lie);
  });
  ({ url: elfutilsUrl, process: elfutils } = await startElfutilsWith(
    dir,
    root,
    {},
    LIES.map((_, n) => `/buildid/${idOf(n)}/executable`),
  ));
}, 120_000);
afterAll(() => {
  elfutils?.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

describe("a section is served only when its whole range lies in the file", () => {
  it("answers as elfutils' debuginfod on the same root, for each of the four lies", async () => {
    await served(root, async (server) => {
      for (let n = 0; n < LIES.length; n++) {
        for (const artifact of ["executable", "section/.comment", "section/.text"]) {
          const path = `/buildid/${idOf(n)}/${artifact}`;
          const theirs = await ask(elfutilsUrl + path);
          const ours = await ask(server.url + path);
          // Statuses as elfutils'; a 404's body is each server's own text.
          expect(`${LIES[n]!.name} ${artifact}: ${ours.split(" ")[0]}`).toBe(
            `${LIES[n]!.name} ${artifact}: ${theirs.split(" ")[0]}`,
          );
          if (theirs.startsWith("200")) expect(ours).toBe(theirs);
        }
        expect(await ask(`${server.url}/buildid/${idOf(n)}/section/.comment`)).toMatch(/^404 /);
      }
    });
  }, 120_000);

  it("debuginfod-find against ours gets a clean 404 (no such file), not a cut transfer", async () => {
    await served(root, async (server) => {
      for (let n = 0; n < LIES.length; n++) {
        const env = {
          PATH: process.env.PATH,
          HOME: dir,
          DEBUGINFOD_URLS: server.url,
          DEBUGINFOD_CACHE_PATH: join(dir, `cache${n}`),
        };
        const { code, err } = await new Promise<{ code: number; err: string }>((resolve) =>
          execFile("debuginfod-find", ["section", idOf(n), ".comment"], { env, timeout: 60_000 }, (error, _out, err) =>
            resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, err }),
          ),
        );
        expect(code, LIES[n]!.name).not.toBe(0);
        expect(err, LIES[n]!.name).toMatch(/No such file or directory/);
      }
      // Each was answered 404 (debuginfod-find says the same of a transfer cut short, after a stall).
      expect(server.metrics.responses).toEqual({ "404": LIES.length });
      expect(server.metrics.aborted).toBe(0);
    });
  }, 120_000);
});

describe("a file that shrinks while it is sent", () => {
  it("ends its kept-alive connection at once, well before the keep-alive timeout, where an idle one waits for it", async () => {
    const tree: Tree = makeTree([`7c0e${"00".repeat(18)}`]);
    const big = join(tree.root, "bin", "prog0");
    truncateSync(big, 64 * 2 ** 20); // sparse: past what the socket buffers hold
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    const keepAliveTimeoutMs = 8_000;
    const server = await serveDebuginfod(index, { port: 0, keepAliveTimeoutMs });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const idleAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // A control: a whole answer on a kept-alive connection, then the time the server leaves it open idle.
      const idleClosed = new Promise<number>((resolve) => {
        const req = get(`${server.url}/buildid/${tree.programs[0]!.id}/debuginfo`, { agent: idleAgent }, (res) => {
          res.resume();
          res.on("end", () => {
            const ended = performance.now();
            req.socket!.once("close", () => resolve(performance.now() - ended));
          });
        });
      });
      const cut = await new Promise<{ ms: number; complete: boolean; received: number }>((resolve, reject) => {
        get(`${server.url}/buildid/${tree.programs[0]!.id}/executable`, { agent }, (res) => {
          let received = 0;
          let truncatedAt = 0;
          res.on("data", (chunk: Buffer) => {
            received += chunk.length;
            if (truncatedAt === 0) {
              res.pause();
              truncateSync(big, 4096);
              truncatedAt = performance.now();
              setTimeout(() => res.resume(), 50);
            }
          });
          res.on("close", () => resolve({ ms: performance.now() - truncatedAt, complete: res.complete, received }));
        }).on("error", reject);
      });
      expect(cut.complete).toBe(false);
      expect(cut.received).toBeLessThan(64 * 2 ** 20);
      const idle = await idleClosed;
      expect(idle).toBeGreaterThan(keepAliveTimeoutMs / 2); // the control: a whole answer's connection is kept
      expect(cut.ms).toBeLessThan(idle / 2);
      expect(server.metrics.truncated).toBe(1);
    } finally {
      agent.destroy();
      idleAgent.destroy();
      await server.close();
      index.dispose();
      rmSync(tree.dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe("connections per client address", () => {
  it("one address holding its most leaves the others served (default: maxConnections / 64)", async () => {
    const tree: Tree = makeTree([`c1e7${"00".repeat(18)}`]);
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    const maxConnections = 256; // 4 per client address by default
    const slow = { headersTimeoutMs: 600_000, idleTimeoutMs: 600_000 };
    const server = await serveDebuginfod(index, { port: 0, maxConnections, ...slow });
    const held: Socket[] = [];
    const url = `/buildid/${tree.programs[0]!.id}/executable`;
    // GET from `localAddress`: the status, or "refused" when the server closes the connection unanswered.
    const from = (localAddress: string): Promise<string> =>
      new Promise((resolve) => {
        get({ host: "127.0.0.1", port: server.port, path: url, localAddress, agent: false }, (res) => {
          res.resume();
          res.on("end", () => resolve(String(res.statusCode)));
        }).on("error", () => resolve("refused"));
      });
    try {
      for (let i = 0; i < maxConnections; i++) {
        const s = connect({ host: "127.0.0.1", port: server.port, localAddress: "127.0.0.1" });
        s.on("error", () => {});
        held.push(s);
      }
      const open = () => held.filter((s) => !s.destroyed && !s.readableEnded).length;
      await expect.poll(open, { timeout: 60_000, interval: 50 }).toBeLessThanOrEqual(4);
      expect(await from("127.0.0.2")).toBe("200");
      expect(await from("127.0.0.1")).toBe("refused");
      expect(open()).toBe(4);
      expect(server.metrics.refusedConnections).toBeGreaterThanOrEqual(maxConnections - 4 + 1);
      for (const s of held) s.destroy();
      // The server frees the address's slots as it sees the closes.
      await expect.poll(() => from("127.0.0.1"), { timeout: 60_000, interval: 100 }).toBe("200");
      expect(await (await fetchGet(`${server.url}/metrics`)).text()).toMatch(/^http_connections_refused_total [1-9]/m);
    } finally {
      for (const s of held) s.destroy();
      await server.close();
      index.dispose();
      rmSync(tree.dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4", () => {
    expect(clientKey("2001:db8:1:2::1")).toBe(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    expect(clientKey("2001:db8:1:2::1")).not.toBe(clientKey("2001:db8:1:3::1"));
    expect(clientKey("::1")).toBe("0:0:0:0::/64");
    expect(clientKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientKey("::ffff:127.0.0.2")).toBe("127.0.0.2");
    expect(clientKey("127.0.0.1")).toBe("127.0.0.1");
  });

  it("refuses bad limits with typed errors naming the value", async () => {
    const index = await BuildIdIndex.create({ roots: [root] });
    await expect(serveDebuginfod(index, { port: 0, maxConnectionsPerClient: 0 })).rejects.toThrow(
      "maxConnectionsPerClient must be an integer >= 1, got 0",
    );
    await expect(serveDebuginfod(index, { port: 0, keepAliveTimeoutMs: "5" as never })).rejects.toThrow(TypeError);
    index.dispose();
  });
});
