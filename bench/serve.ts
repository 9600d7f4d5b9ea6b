// Benchmark "serve": buildid-cache serve beside elfutils' debuginfod -F, interleaved in the same run over
// the same roots (/usr/bin, /usr/lib and a generated tree of executables with split debug files), each
// through its own database (ours: serve --index, theirs: -d):
// - index: from start to the first answer (any status), to every sample URL a 200, and to a complete index
//   (the server's /metrics say its first scan is over) on a first scan; the samples alone are no complete
//   index: elfutils' scanners take files in path order (debuginfod.cxx: workq's std::set of scan_payload,
//   ordered by path, wait_front takes q.begin()), so the generated tree under /tmp and the first names of
//   /usr/bin come before /usr/lib; then a restart on the same database: its first answer, its first hit, and the
//   rescan behind it; peak RSS (VmHWM) of each, against the RSS of the same server idle over an empty root;
// - throughput and p99 under autocannon on 127.0.0.1, hits and misses, then hits while each rescans
//   every second (ours -t 1, elfutils' -t 1), with the server's CPU time per request (all its threads) and the
//   rescans (elfutils: traversals) done meanwhile: a scanner that yields to requests rescans less often under load.
// Other work on the machine moves absolute figures: the load average is printed, and each target is a
// ratio of figures taken in the same round.
//   npm run bench:serve [-- --files N --rounds R --seconds S --connections C --load-rounds L --serving-processes J[,J...]
//   --concurrency C[,C...] --before DIR[,DIR...] --only load|index]
//   (builds dist/ first; BENCH_SEED sets the build IDs; -j 1,2 loads our serve -j 1 and -j 2 in turn beside elfutils,
//   -c 1,2 runs our serve -c 1 and -c 2 (scan threads) in turn, in the index rounds too; --before DIR adds the serve of
//   another built checkout (DIR/dist/node/cli.js, e.g. main's; it is not built here) beside them, a list each; --only load skips the index rounds,
//   --only index the load rounds. The index rounds also give each server's CPU time (all threads) to its scan's end.)
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readBuildIdFromFileSync } from "../src/node/elf-file.js";

/** autocannon ships no types; these are the fields used. */
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p99: number; p50: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = createRequire(import.meta.url)("autocannon") as (options: {
  url: string;
  connections: number;
  duration: number;
  requests: { method: string; path: string }[];
}) => Promise<AutocannonResult>;

const SYSTEM_ROOTS = ["/usr/bin", "/usr/lib"];
const POLL_MS = 20;
const READY_DEADLINE_MS = 900_000;
const CLI = fileURLToPath(new URL("../dist/node/cli.js", import.meta.url));
/** Seconds between rescans in the rescanning round: elfutils' -t, our -t. */
const RESCAN_S = 1;
/** Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`). */
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));

/** A server under test: how to start it on a port over a database, and whether its /metrics say its scan is over. */
interface Contender {
  name: string;
  start(port: number, db: string, rescanSeconds: number, roots: string[]): ChildProcess;
  scanned(metrics: string): boolean;
  /** Rescans (elfutils: traversals) started or done so far, by its /metrics. */
  rescans(metrics: string): number;
}

const metric = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name.replace(/[{}"]/g, "\\$&")} ([0-9.e+-]+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};

// Our serve, with `-j J` and `-c C` when given; `cli` another checkout's (named `label`).
function ours(j?: string, c?: string, cli = CLI, label = "buildid-cache serve"): Contender {
  return {
    name: `${label}${j === undefined ? "" : ` -j ${j}`}${c === undefined ? "" : ` -c ${c}`}`,
    start: (port, db, rescan, roots) =>
      spawn(
        process.execPath,
        // -F as elfutils' -F: ELF files (and their sources), no packages.
        [
          cli,
          "serve",
          "--port",
          String(port),
          "--index",
          db,
          "-t",
          String(rescan),
          "-g",
          "0",
          "-F",
          "--no-progress",
          ...(j === undefined ? [] : ["-j", j]),
          ...(c === undefined ? [] : ["-c", c]),
          ...roots,
        ],
        { stdio: "ignore" },
      ),
    scanned: (text) => (metric(text, "rescans_total") ?? 0) >= 1 && metric(text, "scan_in_progress") === 0,
    rescans: (text) => metric(text, "rescans_total") ?? Number.NaN,
  };
}

const ELFUTILS: Contender = {
  name: "elfutils debuginfod -F",
  start: (port, db, rescan, roots) =>
    spawn("debuginfod", ["-F", "-p", String(port), "-d", db, "-t", String(rescan), "-g", "0", ...roots], {
      stdio: "ignore",
    }),
  scanned: (text) =>
    (metric(text, 'thread_work_total{role="traverse"}') ?? 0) >= 1 &&
    metric(text, 'thread_busy{role="traverse"}') === 0 &&
    metric(text, 'thread_work_pending{role="scan"}') === 0 &&
    metric(text, 'thread_busy{role="scan"}') === 0,
  rescans: (text) => metric(text, 'thread_work_total{role="traverse"}') ?? Number.NaN,
};

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

// A deterministic 20-byte build ID for program `n` under `seed` (splitmix64 words).
function buildId(seed: bigint, n: number): string {
  let x = BigInt.asUintN(64, seed + BigInt(n) * 0x9e3779b97f4a7c15n);
  let hex = "";
  for (let w = 0; w < 3; w++) {
    x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
    let z = x;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    hex += (z ^ (z >> 31n)).toString(16).padStart(16, "0");
  }
  return hex.slice(0, 40);
}

// Links `count` programs with distinct build IDs and splits each one's DWARF into debug/.
function generateTree(dir: string, count: number, seed: bigint): string[] {
  const bin = join(dir, "bin");
  const debug = join(dir, "debug");
  mkdirSync(bin, { recursive: true });
  mkdirSync(debug, { recursive: true });
  const c = join(dir, "p.c");
  writeFileSync(c, '#include <stdio.h>\nint main(int c, char **v) { (void)v; printf("%d\\n", c); return 0; }\n');
  execFileSync("cc", ["-g", "-c", "-o", join(dir, "p.o"), c]);
  const ids: string[] = [];
  for (let n = 0; n < count; n++) {
    const id = buildId(seed, n);
    const full = join(dir, "full");
    execFileSync("cc", ["-g", `-Wl,--build-id=0x${id}`, "-o", full, join(dir, "p.o")]);
    execFileSync("objcopy", ["--only-keep-debug", full, join(debug, `p${n}.debug`)]);
    execFileSync("objcopy", ["--strip-debug", full, join(bin, `p${n}`)]);
    ids.push(id);
  }
  rmSync(join(dir, "full"));
  return ids;
}

// Build IDs of up to `limit` regular files (not links, which neither server follows) of /usr/bin, by the project's reader.
function systemIds(limit: number): string[] {
  const ids: string[] = [];
  for (const name of readdirSync(SYSTEM_ROOTS[0]!).sort()) {
    if (ids.length >= limit) break;
    const path = join(SYSTEM_ROOTS[0]!, name);
    if (!lstatSync(path).isFile()) continue;
    try {
      ids.push(readBuildIdFromFileSync(path).buildId);
    } catch {}
  }
  return ids;
}

// Milliseconds from `started` until every path answers 200; asks one at a time and starts over at the
// first that does not, so polling costs the two servers little and the same.
async function untilComplete(url: string, paths: string[], started: number, child: ChildProcess): Promise<number> {
  let done = 0;
  while (performance.now() - started < READY_DEADLINE_MS) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    const status = await fetch(`${url}${paths[done]}`)
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      })
      .catch(() => 0);
    if (status === 200) {
      if (++done === paths.length) return performance.now() - started;
      continue;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`${url}: ${paths.length - done} paths still unanswered after ${READY_DEADLINE_MS} ms`);
}

/** `VmHWM` (peak) or `VmRSS` of process `pid`, in MB. */
function memoryOf(pid: number, field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Milliseconds from `started` to the first answer to `path`: any status, or `want` only.
async function firstAnswer(
  url: string,
  path: string,
  started: number,
  child: ChildProcess,
  want?: number,
): Promise<number> {
  while (performance.now() - started < READY_DEADLINE_MS) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    const status = await fetch(`${url}${path}`)
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      })
      .catch(() => 0);
    if (status !== 0 && (want === undefined || status === want)) return performance.now() - started;
    await sleep(POLL_MS);
  }
  throw new Error(`${url}: no answer to ${path} after ${READY_DEADLINE_MS} ms`);
}

// Waits until the contender's /metrics say its scan is over.
async function untilScanned(url: string, contender: Contender, child: ChildProcess): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < READY_DEADLINE_MS) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    const text = await fetch(`${url}/metrics`)
      .then((r) => r.text())
      .catch(() => "");
    if (contender.scanned(text)) return;
    await sleep(200);
  }
  throw new Error(`${url}: scan not over after ${READY_DEADLINE_MS} ms`);
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** One contender's figures of one round, in ms and MB. */
interface IndexFigures {
  firstAnswer: number;
  complete: number;
  firstScanned: number;
  firstScanCpu: number;
  firstScanPeak: number;
  restartAnswer: number;
  restartHit: number;
  restartScanned: number;
  restartCpu: number;
  restartPeak: number;
}

// A first scan on a fresh database, then a restart on it.
async function indexRound(c: Contender, db: string, roots: string[], paths: string[]): Promise<IndexFigures> {
  let port = await freePort();
  let url = `http://127.0.0.1:${port}`;
  let started = performance.now();
  let child = c.start(port, db, 0, roots);
  let first: Pick<IndexFigures, "firstAnswer" | "complete" | "firstScanned" | "firstScanCpu" | "firstScanPeak">;
  try {
    const firstAnswerMs = await firstAnswer(url, paths[0]!, started, child);
    const complete = await untilComplete(url, paths, started, child);
    await untilScanned(url, c, child);
    const firstScanned = performance.now() - started;
    first = {
      firstAnswer: firstAnswerMs,
      complete,
      firstScanned,
      firstScanCpu: total(cpuMs(child.pid!)),
      firstScanPeak: memoryOf(child.pid!, "VmHWM"),
    };
  } finally {
    await stop(child);
  }
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  started = performance.now();
  child = c.start(port, db, 0, roots);
  try {
    const restartAnswer = await firstAnswer(url, paths[0]!, started, child);
    const restartHit = await firstAnswer(url, paths[0]!, started, child, 200);
    await untilScanned(url, c, child);
    const restartScanned = performance.now() - started;
    const restartCpu = total(cpuMs(child.pid!));
    return {
      ...first,
      restartAnswer,
      restartHit,
      restartScanned,
      restartCpu,
      restartPeak: memoryOf(child.pid!, "VmHWM"),
    };
  } finally {
    await stop(child);
  }
}

// RSS of a contender idle over an empty root, its scan over and two seconds gone.
async function idleRss(c: Contender, dir: string): Promise<number> {
  const empty = mkdtempSync(join(dir, "empty-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = c.start(port, join(empty, "db.sqlite"), 0, [join(empty)]);
  try {
    await firstAnswer(url, "/metrics", performance.now(), child);
    await untilScanned(url, c, child);
    await sleep(2000);
    return memoryOf(child.pid!, "VmRSS");
  } finally {
    await stop(child);
  }
}

// Median wall time of `node dist/node/cli.js --version`: Node's own start with this CLI.
function nodeStart(): number {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    execFileSync(process.execPath, [CLI, "--version"]);
    times.push(performance.now() - t);
  }
  return median(times);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** An autocannon run with the server's CPU time (all its threads, user and system) per request answered, in µs, and the rescans it made meanwhile. */
type LoadRun = AutocannonResult & { cpuPerRequest: number; load: string; rescans?: number };

const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(" ");

/** A contender's load runs, one per repeat. */
interface LoadFigures {
  hits: LoadRun[];
  misses: LoadRun[];
  hitsRescanning: LoadRun[];
}

/** The run of median throughput among `runs`. */
function medianRun(runs: LoadRun[]): LoadRun {
  return [...runs].sort((a, b) => a.requests.average - b.requests.average)[(runs.length - 1) >> 1]!;
}

/** Process `pid` and its descendants (a serve's serving processes), by `/proc/PID/task/TID/children`. */
function family(pid: number): number[] {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").split(" ").filter(Boolean).map(Number),
  );
  return [pid, ...children.flatMap((child) => family(child))];
}

/**
 * CPU time process `pid` and its descendants have used, user and system, in ms, by pid
 * (`/proc/PID/stat` fields 14 and 15); a process gone since is counted as it was last seen.
 */
function cpuMs(pid: number, seen = new Map<number, number>()): Map<number, number> {
  for (const p of family(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ");
      seen.set(p, ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS);
    } catch {}
  }
  return seen;
}

const total = (cpu: Map<number, number>): number => [...cpu.values()].reduce((a, b) => a + b, 0);

// One autocannon run against `child` at `url` over `set`, with the server's CPU time per request.
async function loadRun(url: string, child: ChildProcess, set: string[], seconds: number, connections: number) {
  const before = total(cpuMs(child.pid!));
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    requests: set.map((path) => ({ method: "GET", path })),
  });
  const used = total(cpuMs(child.pid!)) - before;
  return { ...r, load: load(), cpuPerRequest: (used * 1000) / Math.max(1, r.requests.total) };
}

// Throughput on hits and misses over a complete index, every contender up at once and loaded in turn
// (the order reversed each repeat), so that the machine's other work falls on all alike; then on hits
// while each, alone, rescans every second.
async function loadRounds(
  contenders: Contender[],
  dbOf: (c: Contender, i: number) => string,
  roots: string[],
  paths: string[],
  missPaths: string[],
  seconds: number,
  connections: number,
  repeat: number,
): Promise<Map<Contender, LoadFigures>> {
  const up = async (c: Contender, db: string, rescan: number) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = c.start(port, db, rescan, roots);
    return { c, url, child };
  };
  const figures = new Map<Contender, LoadFigures>(
    contenders.map((c) => [c, { hits: [], misses: [], hitsRescanning: [] }]),
  );
  const servers = await Promise.all(contenders.map((c, i) => up(c, dbOf(c, i), 0)));
  try {
    for (const s of servers) {
      await untilComplete(s.url, paths, performance.now(), s.child);
      await untilScanned(s.url, s.c, s.child);
    }
    for (let r = 0; r < repeat; r++) {
      for (const [set, key] of [
        [paths, "hits"],
        [missPaths, "misses"],
      ] as const) {
        for (const s of r % 2 === 0 ? servers : [...servers].reverse()) {
          const run = await loadRun(s.url, s.child, set, seconds, connections);
          process.stderr.write(
            `load ${r + 1} ${s.c.name}, ${key}: ${run.requests.average} req/s, p99 ${run.latency.p99} ms, load ${run.load}\n`,
          );
          figures.get(s.c)![key].push(run);
        }
      }
    }
  } finally {
    await Promise.all(servers.map((s) => stop(s.child)));
  }
  // Each alone while it rescans (another's rescans would load the machine under it), in turn, the order reversed each repeat.
  for (let r = 0; r < repeat; r++) {
    for (const [i, c] of r % 2 === 0 ? contenders.entries() : [...contenders.entries()].reverse()) {
      const s = await up(c, dbOf(c, i), RESCAN_S);
      try {
        await untilComplete(s.url, paths, performance.now(), s.child);
        await untilScanned(s.url, c, s.child);
        const rescans = async () => c.rescans(await (await fetch(`${s.url}/metrics`)).text());
        const before = await rescans();
        const run: LoadRun = await loadRun(s.url, s.child, paths, seconds, connections);
        run.rescans = (await rescans()) - before;
        process.stderr.write(
          `load ${r + 1} ${c.name}, hits rescanning: ${run.requests.average} req/s, p99 ${run.latency.p99} ms, ${run.rescans} rescans, load ${run.load}\n`,
        );
        figures.get(c)!.hitsRescanning.push(run);
      } finally {
        await stop(s.child);
      }
    }
  }
  return figures;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      files: { type: "string", default: "100" },
      rounds: { type: "string", default: "2" },
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "16" },
      "serving-processes": { type: "string", short: "j" },
      concurrency: { type: "string", short: "c" },
      before: { type: "string" },
      "load-rounds": { type: "string", default: "3" },
      only: { type: "string" },
    },
  });
  if (values.only !== undefined && values.only !== "load" && values.only !== "index")
    throw new Error(`--only takes "load" or "index", got ${JSON.stringify(values.only)}`);
  const onlyLoad = values.only === "load";
  const onlyIndex = values.only === "index";
  // -j 1,2 and -c 1,2: our serve once per pair, each loaded in turn beside elfutils; the index rounds take the first -j.
  const js = values["serving-processes"]?.split(",") ?? [undefined];
  const cs = values.concurrency?.split(",") ?? [undefined];
  const ourContenders = js.flatMap((j) => cs.map((c) => ours(j, c)));
  const before = (values.before?.split(",") ?? []).map((dir) =>
    ours(undefined, undefined, join(dir, "dist/node/cli.js"), `before (${dir}) serve`),
  );
  const indexed = [...ourContenders.slice(0, cs.length), ...before];
  const loadRepeat = Number(values["load-rounds"]);
  const count = Number(values.files);
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const seed = BigInt(process.env.BENCH_SEED ?? "16");
  const loadBefore = load();
  process.stderr.write(
    `bench:serve: seed ${seed} (BENCH_SEED), ${count} generated programs, ${rounds} rounds, ${seconds} s of load, ${connections} connections, ${loadRepeat} load rounds, ${[...ourContenders, ...before].map((c) => c.name).join(", ")}; Node ${process.version}; load average ${loadBefore}\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), "bench-serve-"));
  try {
    const tree = join(dir, "tree");
    const ids = [...generateTree(tree, count, seed), ...systemIds(20)];
    const paths = ids.flatMap((id, n) =>
      (n < count ? [`/buildid/${id}/debuginfo`] : []).concat(`/buildid/${id}/executable`),
    );
    const missPaths = Array.from({ length: 100 }, (_, n) => `/buildid/${buildId(seed + 1n, n)}/executable`);
    const roots = [...SYSTEM_ROOTS, tree];
    const start = onlyLoad ? 0 : nodeStart();
    // Each of ours against its own idle: a checkout's serve (--before) may hold less or more at rest.
    const idles = new Map<Contender, number>();
    for (const c of onlyLoad ? [] : indexed) idles.set(c, await idleRss(c, dir));
    const idleTheirs = onlyLoad ? 0 : await idleRss(ELFUTILS, dir);
    const racing = [...indexed, ELFUTILS];
    const figures = new Map<Contender, IndexFigures[]>(racing.map((c) => [c, []]));
    const dbName = (c: Contender) => (c === ELFUTILS ? "theirs" : `ours-${racing.indexOf(c)}`);
    for (let r = 0; r < (onlyLoad ? 0 : rounds); r++) {
      for (const c of r % 2 === 0 ? racing : [...racing].reverse()) {
        const got = await indexRound(c, join(dir, `${dbName(c)}-${r}.sqlite`), roots, paths);
        process.stderr.write(
          `round ${r + 1} ${c.name}: ${JSON.stringify(got, (_, v) => (typeof v === "number" ? Math.round(v) : v))}, load ${load()}\n`,
        );
        figures.get(c)!.push(got);
      }
    }
    const contenders = onlyIndex ? [] : [...ourContenders, ...before, ELFUTILS];
    // The index rounds' databases where there are (restarts: no first scan), fresh ones for the rest.
    const dbOf = (c: Contender, i: number): string =>
      !onlyLoad && racing.includes(c) ? join(dir, `${dbName(c)}-0.sqlite`) : join(dir, `load-${i}.sqlite`);
    const loads = await loadRounds(contenders, dbOf, roots, paths, missPaths, seconds, connections, loadRepeat);
    const theirs = figures.get(ELFUTILS)!;
    const med = (list: IndexFigures[], key: keyof IndexFigures) => median(list.map((f) => f[key]));
    const ratio = (c: Contender, key: keyof IndexFigures) =>
      median(figures.get(c)!.map((f, i) => f[key] / theirs[i]![key]));
    const fmt = (n: number, d = 0) => n.toFixed(d);
    const cell = (s: string, w: number) => s.padStart(w);
    const keys: [keyof IndexFigures, string][] = [
      ["firstAnswer", "first answer, first scan (ms)"],
      ["complete", "sample URLs all 200 (ms)"],
      ["firstScanned", "first scan over: complete index (ms)"],
      ["firstScanCpu", "CPU to the first scan's end (ms)"],
      ["firstScanPeak", "peak RSS, first scan (MB)"],
      ["restartAnswer", "first answer, restart (ms)"],
      ["restartHit", "first hit, restart (ms)"],
      ["restartScanned", "restart's rescan over (ms)"],
      ["restartCpu", "CPU to the restart's rescan end (ms)"],
      ["restartPeak", "peak RSS, restart (MB)"],
    ];
    let out = `\nNode ${process.version}; roots: ${roots.join(", ")} (${ids.length} build IDs asked, ${paths.length} URLs); load average ${loadBefore} before, ${load()} after\n`;
    if (!onlyLoad) {
      out += `Node's start (buildid-cache --version): ${fmt(start)} ms; idle over an empty root (MB RSS): ${indexed.map((c) => `${c.name} ${fmt(idles.get(c)!)}`).join(", ")}, elfutils ${fmt(idleTheirs)}\n`;
      out += `contenders: ${racing.map((c, i) => `[${i}] ${c.name}`).join(", ")}\n\n`;
      out += `${"median of rounds".padEnd(38)}${racing.map((_, i) => cell(`[${i}]`, 9)).join("")}${indexed.map((_, i) => cell(`[${i}]/elf`, 10)).join("")}\n`;
      for (const [key, label] of keys)
        out += `${label.padEnd(38)}${racing.map((c) => cell(fmt(med(figures.get(c)!, key)), 9)).join("")}${indexed.map((c) => cell(fmt(ratio(c, key), 2), 10)).join("")}\n`;
    }
    if (!onlyIndex) {
      out += `\n${`load (median of ${loadRepeat} by req/s)`.padEnd(44)}${cell("req/s", 10)}${cell("p50 ms", 9)}${cell("p99 ms", 9)}${cell("failed", 8)}${cell("CPU µs/req", 12)}  every run's req/s (and rescans)\n`;
      for (const c of contenders) {
        const l = loads.get(c)!;
        for (const [what, runs] of [
          ["hits", l.hits],
          ["misses", l.misses],
          [`hits, rescan every ${RESCAN_S} s`, l.hitsRescanning],
        ] as const) {
          const r = medianRun(runs);
          const failed = what === "misses" ? r.errors + r.timeouts : r.non2xx + r.errors + r.timeouts;
          out += `${`${c.name}: ${what}`.padEnd(44)}${cell(fmt(r.requests.average), 10)}${cell(String(r.latency.p50), 9)}${cell(String(r.latency.p99), 9)}${cell(String(failed), 8)}${cell(fmt(r.cpuPerRequest), 12)}  ${runs.map((x) => fmt(x.requests.average) + (x.rescans === undefined ? "" : ` (${x.rescans})`)).join(" ")}\n`;
        }
      }
    }
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    const bound = (key: keyof IndexFigures) => Math.max(med(theirs, key), 2 * start);
    out += `\ntargets:\n`;
    if (!onlyLoad)
      for (const c of indexed) {
        const mine = figures.get(c)!;
        const peakOver = (key: keyof IndexFigures) => med(mine, key) - idles.get(c)!;
        out +=
          `  ${c.name}: first answer after a restart <= max(elfutils', 2x Node's start) = ${fmt(bound("restartAnswer"))} ms: ${fmt(med(mine, "restartAnswer"))} ms, ${verdict(med(mine, "restartAnswer") <= bound("restartAnswer"))}\n` +
          `  ${c.name}: first answer during a first scan <= max(elfutils', 2x Node's start) = ${fmt(bound("firstAnswer"))} ms: ${fmt(med(mine, "firstAnswer"))} ms, ${verdict(med(mine, "firstAnswer") <= bound("firstAnswer"))}\n` +
          `  ${c.name}: complete index (scan over) >= 2x sooner than elfutils': ${fmt(1 / ratio(c, "firstScanned"), 2)}x, ${verdict(1 / ratio(c, "firstScanned") >= 2)} (sample URLs all 200: ${fmt(1 / ratio(c, "complete"), 2)}x)\n` +
          `  ${c.name}: peak RSS - idle RSS <= elfutils' peak, first scan: ${fmt(peakOver("firstScanPeak"))} vs ${fmt(med(theirs, "firstScanPeak"))} MB, ${verdict(peakOver("firstScanPeak") <= med(theirs, "firstScanPeak"))}\n` +
          `  ${c.name}: peak RSS - idle RSS <= elfutils' peak, restart and rescan: ${fmt(peakOver("restartPeak"))} vs ${fmt(med(theirs, "restartPeak"))} MB, ${verdict(peakOver("restartPeak") <= med(theirs, "restartPeak"))}\n`;
      }
    if (!onlyIndex) {
      const lt = loads.get(ELFUTILS)!;
      const costTheirs = 1 - medianRun(lt.hitsRescanning).requests.average / medianRun(lt.hits).requests.average;
      for (const c of [...ourContenders, ...before]) {
        const lo = loads.get(c)!;
        const costOurs = 1 - medianRun(lo.hitsRescanning).requests.average / medianRun(lo.hits).requests.average;
        // Each round's ratio too: the rounds are interleaved, so a ratio within one round is the steadier figure under other load.
        const byRound = (mine: LoadRun[], elf: LoadRun[], f: (x: LoadRun) => number) =>
          mine.map((x, i) => fmt(f(x) / f(elf[i]!), 2)).join(" ");
        for (const [what, a, b] of [
          ["hits", lo.hits, lt.hits],
          ["misses", lo.misses, lt.misses],
        ] as const) {
          const [ma, mb] = [medianRun(a), medianRun(b)];
          out += `  ${c.name}: ${what} >= 1.3x elfutils', p99 no worse: ${fmt(ma.requests.average / mb.requests.average, 2)}x, p99 ${ma.latency.p99} vs ${mb.latency.p99} ms, ${verdict(ma.requests.average >= 1.3 * mb.requests.average && ma.latency.p99 <= mb.latency.p99)} (by round: ${byRound(a, b, (x) => x.requests.average)}x; CPU per request ${byRound(a, b, (x) => x.cpuPerRequest)}x elfutils')\n`;
        }
        out += `  ${c.name}: a rescan every ${RESCAN_S} s costs hits no more than elfutils': ${fmt(100 * costOurs, 1)}% vs ${fmt(100 * costTheirs, 1)}%, ${verdict(costOurs <= costTheirs)} (by round: ${lo.hitsRescanning.map((x, i) => `${fmt(100 * (1 - x.requests.average / lo.hits[i]!.requests.average), 1)}% vs ${fmt(100 * (1 - lt.hitsRescanning[i]!.requests.average / lt.hits[i]!.requests.average), 1)}%`).join(", ")})\n`;
      }
    }
    process.stdout.write(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
