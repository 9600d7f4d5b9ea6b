// Benchmark "archive": CPU time of scanArchive (decode, tar, and every ELF member's build ID) on real
// package files, beside dpkg-deb --fsys-tarfile | tar -t (decode and list only) on the same files,
// alternating, median of --runs. CPU time, not wall time: the machine is shared.
//   npx tsx bench/archive.ts [--runs N] FILE.deb...   (e.g. files from `apt-get download coreutils libc6-dbg`)
// With --parallel K: the whole set scanned one archive after another, K at once in this thread, and
// by K worker threads, in rotating order per round; wall and CPU ms (all threads) and peak RSS growth.
//   npx tsx bench/archive.ts --parallel 2 [--runs N] FILE.deb...
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { scanArchive } from "../src/node/debuginfod/archive.js";
import { block, table } from "./format.js";
import { median, rotate, runIfMain } from "./harness.js";

async function scanCpuMs(path: string): Promise<{ ms: number; scan: Awaited<ReturnType<typeof scanArchive>> }> {
  const before = process.cpuUsage();
  const scan = await scanArchive(path);
  const used = process.cpuUsage(before);
  return { ms: (used.user + used.system) / 1000, scan };
}

function dpkgCpuMs(path: string): number {
  const run = spawnSync(
    "/usr/bin/time",
    ["-f", "%U %S", "sh", "-c", 'dpkg-deb --fsys-tarfile "$1" | tar -t >/dev/null', "sh", path],
    {
      encoding: "utf8",
    },
  );
  if (run.status !== 0) throw new Error(`dpkg-deb | tar failed on ${path}: ${run.stderr}`);
  const [user, system] = run.stderr.trim().split("\n").pop()!.split(" ").map(Number);
  return (user! + system!) * 1000;
}

const ARCHIVE_TS = fileURLToPath(new URL("../src/node/debuginfod/archive.ts", import.meta.url));

// A worker that scans the paths it is sent with scanArchive (through tsx) and answers each with its ELF count.
function scanWorker(): Worker {
  return new Worker(
    `const { parentPort } = require("node:worker_threads");
    const ready = import("tsx/esm/api").then((t) => { t.register(); return import(${JSON.stringify(ARCHIVE_TS)}); });
    parentPort.on("message", async (path) => {
      const { scanArchive } = await ready;
      const scan = await scanArchive(path);
      parentPort.postMessage(scan);
    });`,
    { eval: true },
  );
}

type Mode = "one after another" | "K at once, one thread" | "K worker threads";

// Scans every path, `k` at a time, each through `scan`; resolves to the ELF members found.
async function pool(
  paths: readonly string[],
  k: number,
  scan: (path: string, slot: number) => Promise<{ elves: unknown[] }>,
): Promise<number> {
  let next = 0;
  let elves = 0;
  await Promise.all(
    Array.from({ length: k }, async (_, slot) => {
      while (next < paths.length) {
        const scanned = await scan(paths[next++]!, slot);
        elves += scanned.elves.length;
      }
    }),
  );
  return elves;
}

async function parallel(paths: readonly string[], k: number, runs: number): Promise<void> {
  const workers = Array.from({ length: k }, scanWorker);
  const viaWorker = (path: string, slot: number) =>
    new Promise<{ elves: unknown[] }>((resolve) => {
      workers[slot]!.once("message", resolve).postMessage(path);
    });
  for (const w of workers)
    w.on("error", (error) => {
      throw error;
    });
  await pool(paths.slice(0, k), k, viaWorker);
  const modes: Record<Mode, () => Promise<number>> = {
    "one after another": () => pool(paths, 1, (p) => scanArchive(p)),
    "K at once, one thread": () => pool(paths, k, (p) => scanArchive(p)),
    "K worker threads": () => pool(paths, k, viaWorker),
  };
  const got: Record<string, { wall: number[]; cpu: number[]; rss: number[]; elves: number }> = {};
  for (let round = 0; round < runs; round++) {
    for (const mode of rotate(Object.keys(modes) as Mode[], round)) {
      const rss0 = process.memoryUsage.rss();
      let peak = rss0;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
      }, 10);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const elves = await modes[mode]();
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      clearInterval(sampler);
      got[mode] ??= { wall: [], cpu: [], rss: [], elves };
      const row = got[mode];
      row.wall.push(wall);
      row.cpu.push((cpu.user + cpu.system) / 1000);
      row.rss.push((Math.max(peak, process.memoryUsage.rss()) - rss0) / 2 ** 20);
    }
  }
  await Promise.all(workers.map((w) => w.terminate()));
  const base = median(got["one after another"]!.wall);
  const rows = Object.entries(got).map(([mode, r]) => [
    mode.replace("K", String(k)),
    median(r.wall).toFixed(0),
    (base / median(r.wall)).toFixed(2),
    median(r.cpu).toFixed(0),
    median(r.rss).toFixed(1),
    r.elves,
  ]);
  process.stdout.write(
    `${paths.length} archives, ${runs} rounds, medians\n${table(block(["mode", "wall ms", "speed-up", "CPU ms", "peak RSS +MiB", "ELF"], rows, 1))}\n`,
  );
}

async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: { runs: { type: "string", default: "5" }, parallel: { type: "string" } },
    allowPositionals: true,
  });
  const runs = Number(values.runs);
  if (positionals.length === 0) throw new Error("name one or more .deb files");
  if (values.parallel !== undefined) return parallel(positionals, Number(values.parallel), runs);
  const rows: (string | number)[][] = [];
  for (const path of positionals) {
    const ours: number[] = [];
    const theirs: number[] = [];
    let last: Awaited<ReturnType<typeof scanArchive>> | undefined;
    for (let i = 0; i < runs; i++) {
      const { ms, scan } = await scanCpuMs(path);
      ours.push(ms);
      last = scan;
      theirs.push(dpkgCpuMs(path));
    }
    const a = median(ours);
    const b = median(theirs);
    rows.push([
      path.split("/").pop()!,
      last!.payload,
      (last!.expandedBytes / 1e6).toFixed(1),
      last!.members,
      last!.elves.length,
      a.toFixed(0),
      b.toFixed(0),
      (a / b).toFixed(2),
    ]);
  }
  process.stdout.write(
    `${table(block(["file", "payload", "MB out", "members", "ELF", "scanArchive ms", "dpkg-deb|tar ms", "ratio"], rows, 2))}\n`,
  );
}

runIfMain(import.meta.url, "bench:archive", main);
