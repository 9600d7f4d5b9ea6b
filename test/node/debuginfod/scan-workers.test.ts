// The scan's worker threads: an index's first scan in a process runs on its own thread, the rescans
// after it on workers; the index they read is the one a single worker reads (hard links included), a
// worker that dies or throws fails the scan instead of hanging it, the workers end with the index and
// with `serve` on SIGTERM and SIGINT during a scan.
import { copyFileSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex, type ScanStats } from "../../../src/node/debuginfod/build-id-index.js";
import type { Listing } from "../../../src/node/debuginfod/scan-jobs.js";
import { ScanPool, ScanWorkerError } from "../../../src/node/debuginfod/scan-pool.js";
import { RootDir } from "../../../src/node/files/under-root.js";
import { bundleCli, runCli } from "../../helpers/cli.js";
import { makeTree, type Tree } from "./fixtures.js";

let tree: Tree;
beforeAll(() => {
  tree = makeTree();
  // Folders enough that several workers list and read at once, with hard links across them.
  for (let d = 0; d < 12; d++) {
    const dir = join(tree.root, `d${d}`, "sub");
    mkdirSync(dir, { recursive: true });
    for (const [n, p] of tree.programs.entries()) {
      copyFileSync(p.executable, join(dir, `copy${n}`));
      linkSync(p.debuginfo, join(dir, `link${n}.debug`));
    }
    writeFileSync(join(tree.root, `d${d}`, "notes.txt"), `folder ${d}\n`);
  }
});
afterAll(() => rmSync(tree.dir, { recursive: true, force: true }));

let bundled: Promise<string> | undefined;
/** The CLI, bundled once for the tests that run it. */
const bundle = (): Promise<string> => (bundled ??= bundleCli(join(tree.dir, "bundle")));

const figures = (s: ScanStats) => ({ ...s, durationMs: 0 });

// Every worker the pool may start is started when jobs wait (scanSpare): the load average does not decide here.
const spare = () => true;

// Moves the mtime of every regular file under `dir` by `seconds`, so a rescan reads them all again.
function touchAll(dir: string, seconds: number): void {
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (!entry.isFile()) continue;
    const { atime, mtime } = statSync(path);
    utimesSync(path, atime, new Date(mtime.getTime() + seconds * 1000));
  }
}

// A first scan (on the index's thread), then one that reads every file again on `threads` workers, then an unchanged one.
async function indexed(
  threads: number,
): Promise<{ stats: ScanStats; reread: ScanStats; rescan: ScanStats; paths: string[][] }> {
  const index = await BuildIdIndex.create({ roots: [tree.root], scanThreads: threads, scanSpare: spare });
  try {
    const stats = await index.scan();
    touchAll(tree.root, threads);
    const reread = await index.scan();
    const rescan = await index.scan();
    const paths = tree.programs.map((p) =>
      index
        .lookup(p.id)
        .map((f) => f.path)
        .sort(),
    );
    return { stats, reread, rescan, paths };
  } finally {
    index.dispose();
  }
}

describe("scan workers", () => {
  it("run none for an index's first scan in the process, on a new database or one held (a restart); its rescans take them", async () => {
    const db = join(tree.dir, "first-scan.sqlite");
    for (const round of ["new", "restart"]) {
      const index = await BuildIdIndex.open(db, { roots: [tree.root], scanThreads: 2, scanSpare: spare });
      try {
        const running: number[] = [];
        const scan = () => index.scan({ hooks: { started: (all) => running.push(all().length) } });
        const first = await scan();
        expect(first.reads, round).toBe(round === "new" ? first.files : 0);
        await scan();
        expect(running, round).toEqual([0, 1]);
      } finally {
        index.dispose();
      }
    }
  });

  it("read the index one worker reads, keeping the same name of each hard-linked file", async () => {
    const one = await indexed(1);
    const three = await indexed(3);
    expect(figures(three.stats)).toEqual(figures(one.stats));
    expect(figures(three.reread)).toEqual(figures(one.reread));
    expect(figures(three.rescan)).toEqual(figures(one.rescan));
    expect(three.paths).toEqual(one.paths);
    // Each debug file has 13 names: one is indexed, the first in walk order (d0/ before debug/).
    expect(one.stats.hardLinks).toBe(12 * tree.programs.length);
    expect(one.reread.hardLinks).toBe(12 * tree.programs.length);
    expect(one.reread.reads).toBe(one.stats.reads);
    for (const [n, p] of tree.programs.entries()) {
      expect(one.paths[n]).toContain(join(tree.root, "d0", "sub", `link${n}.debug`));
      expect(one.paths[n]).not.toContain(p.debuginfo);
    }
    expect(one.rescan.reads).toBe(0);
  });

  for (const [what, kill] of [
    ["dies", (w: Worker) => void w.terminate()],
    ["throws (a message it does not know)", (w: Worker) => w.postMessage({})],
  ] as const) {
    it(`a worker that ${what} mid-scan fails the scan with ScanWorkerError; the next scan reads everything`, async () => {
      const index = await BuildIdIndex.create({ roots: [tree.root], scanThreads: 2, scanSpare: spare });
      try {
        await index.scan();
        let workers = 0;
        const failed = await index
          .scan({
            hooks: {
              started: (all) => {
                workers = all().length;
                kill(all()[0]!);
              },
            },
          })
          .then(
            () => undefined,
            (error: unknown) => error,
          );
        expect(workers).toBe(1);
        expect(failed).toBeInstanceOf(ScanWorkerError);
        expect((failed as ScanWorkerError).code).toBe("ESCANWORKER");
        const stats = await index.scan();
        expect(stats.unreadable).toBe(0);
        for (const p of tree.programs) expect(index.lookup(p.id).length).toBeGreaterThan(0);
      } finally {
        index.dispose();
      }
    });
  }

  it("end when the index is disposed", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root], scanThreads: 2, scanSpare: spare });
    let workers: () => readonly Worker[] = () => [];
    await index.scan();
    await index.scan({
      hooks: {
        started: (all) => {
          workers = all;
        },
      },
    });
    const running = workers();
    const exits = running.map((w) => new Promise((resolve) => w.once("exit", resolve)));
    index.dispose();
    await Promise.all(exits);
    expect(running.length).toBeGreaterThan(0);
  });

  it("start one worker, another only while jobs wait and a CPU is idle, and end each idle one", async () => {
    for (const idle of [false, true]) {
      const index = await BuildIdIndex.create({ roots: [tree.root], scanThreads: 3, scanSpare: () => idle });
      try {
        await index.scan();
        let workers: () => readonly Worker[] = () => [];
        const seen = new Set<number>();
        await index.scan({
          hooks: {
            started: (all) => {
              workers = all;
            },
            listed: () => {
              for (const w of workers()) seen.add(w.threadId);
            },
          },
        });
        // Every folder of the tree waits to be listed once the root is: more than one worker has room.
        if (idle) expect(seen.size).toBeGreaterThan(1);
        else expect(seen.size).toBe(1);
        const started = performance.now();
        while (workers().length > 0 && performance.now() - started < 60_000)
          await new Promise((r) => setTimeout(r, 100));
        expect(workers()).toEqual([]);
        // The next scan starts a worker again and indexes the same.
        const again = await index.scan();
        expect(again.reused).toBe(again.files);
      } finally {
        index.dispose();
      }
    }
  }, 180_000);

  it("take one job at a time while the pool's thread is busy (a server's requests), and list the same", async () => {
    const root = RootDir.openSync(tree.root);
    // The jobs a worker was given and has not answered, at most, from its first answer on.
    const listed = async (busy: boolean) => {
      const pool = new ScanPool(1, { spare, busy: () => busy });
      const scan = pool.start();
      try {
        await pool.setup(scan, {
          roots: [{ path: root.path, fd: root.descriptor, dev: root.stat.dev, ino: root.stat.ino, rootId: 1 }],
          filter: { scanners: { files: true, deb: false, rpm: false }, include: [], exclude: [] },
          stampFiles: false,
          sourceRoots: [],
        });
        const worker = pool.workers[0]!;
        let given = 0;
        let most = 0;
        let answered = false;
        const post = worker.postMessage.bind(worker);
        worker.postMessage = (message: { type: string }) => {
          if (message.type === "job") given++;
          if (answered) most = Math.max(most, given);
          post(message);
        };
        worker.prependListener("message", () => {
          given--;
          answered = true;
        });
        const jobs = Array.from({ length: 12 }, (_, d) =>
          pool.run<Listing[]>(scan, {
            kind: "list",
            dirs: [{ root: 0, names: [`d${d}`, "sub"], path: join(tree.root, `d${d}`, "sub") }],
          }),
        );
        const listings = (await Promise.all(jobs)).map((l) => l.map((x) => x.read));
        await pool.end(scan);
        return { most, listings };
      } finally {
        pool.idle();
        pool.close();
      }
    };
    try {
      const busy = await listed(true);
      const free = await listed(false);
      expect(busy.most).toBe(1);
      expect(free.most).toBe(2);
      expect(busy.listings).toEqual(free.listings);
      expect(busy.listings[0]![0]).toEqual(tree.programs.flatMap((_, n) => [`copy${n}`, `link${n}.debug`]).sort());
    } finally {
      root.close();
    }
  });

  it("refuses a number of workers out of range, naming it", async () => {
    for (const bad of [0, -1, 1.5, 257])
      await expect(BuildIdIndex.create({ roots: [tree.root], scanThreads: bad })).rejects.toThrow(
        `scanThreads must be an integer from 1 to 256, got ${bad}`,
      );
  });

  it("serve -c N sets the most workers, 1 to 256; another count is refused, naming it", async () => {
    const cli = await bundle();
    for (const bad of ["0", "257", "1.5", "x"]) {
      const run = await runCli(cli, ["serve", "--port", "0", "-c", bad, tree.root], { timeoutMs: 60_000 });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`--concurrency must be an integer from 1 to 256, got "${bad}"`);
    }
    const run = await runCli(cli, ["serve", "--help"], { timeoutMs: 60_000 });
    expect(run.stdout).toMatch(/-c, --concurrency <n>/);
  });

  it("end with serve on SIGTERM and SIGINT during a first scan (exit 143 and 130)", async () => {
    const cli = await bundle();
    for (const [signal, code] of [
      ["SIGTERM", 143],
      ["SIGINT", 130],
    ] as const) {
      const run = await runCli(cli, ["serve", "--port", "0", "--no-progress", "/usr/lib", "/usr/bin"], {
        timeoutMs: 120_000,
        started: (child) => {
          child.stdout!.on("data", (chunk: Buffer) => {
            if (chunk.toString().includes("serving")) setTimeout(() => child.kill(signal), 300);
          });
        },
      });
      expect(run.signal, run.stderr).toBe(null);
      expect(run.code, run.stderr).toBe(code);
    }
  });
});

describe("a rescan", () => {
  it("indexes a file with two names that is new since the last scan (one name)", async () => {
    const t = makeTree();
    const index = await BuildIdIndex.create({ roots: [t.root], scanThreads: 2 });
    try {
      await index.scan();
      const p = t.programs[0]!;
      mkdirSync(join(t.root, "new"));
      copyFileSync(p.executable, join(t.root, "new", "a"));
      linkSync(join(t.root, "new", "a"), join(t.root, "new", "b"));
      const stats = await index.scan();
      expect(stats.hardLinks).toBe(1);
      expect(index.lookup(p.id).map((f) => f.path)).toContain(join(t.root, "new", "a"));
      expect(index.lookup(p.id).map((f) => f.path)).not.toContain(join(t.root, "new", "b"));
    } finally {
      index.dispose();
      rmSync(t.dir, { recursive: true, force: true });
    }
  });
});
