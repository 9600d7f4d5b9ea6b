// perf.data beside perf, on the same recordings (`perf record -e cpu-clock -F 20000 -g`, file mode and -z,
// and one with 60-200-frame stacks; made here or given): the commands as a user runs them (`buildid-cache pprof` against `perf script`
// printing the same samples with call chains, `buildid-list -H` against perf's), the reader's MB/s,
// the converter in process, cold (a fresh process's first conversion, what a command pays) and warm, per sample,
// and the converter's peak RSS; then the peak RSS of both commands on a synthesized recording of --big MB
// (1,000 by default, 100 with --quick; 0 skips it). Outputs are checked equal to perf's before anything is timed.
// The commands are timed as a user waits (wall) and in CPU, taking turns with perf's and with `node -e 0` (Node's
// own start), in the environment as given and, when it sets NODE_EXTRA_CA_CERTS (Node 20 reads that file as it
// starts), without it: the target is judged without it, both are printed.
//   npm run bench:perf -- [--quick] [--rounds N] [--big MB] [--json] [--out DIR] [--cli CLI.js] [--node NODE] [FILE.data ...]
// (--cli times another build of the command, e.g. main's dist/node/cli.js, for a before and after; --node runs
// the commands under another Node)
import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openAsBlob,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { listBuildIds } from "../src/convert/buildid-list.js";
import { convertPerfData } from "../src/convert/index.js";
import { BuildIdResolver } from "../src/node/index.js";
import { recordedFileReader } from "../src/node/recorded-files.js";
import { streamPerfData } from "../src/perf/index.js";
import { CONFIDENCE, medianInterval, reachOf } from "../web/bench-stats.js";
import { median, onNode, runIfMain, writeResults } from "./harness.js";

// The installed command, package.json's bin (the launcher, CommonJS).
const CLI = fileURLToPath(new URL("../dist/cli.cjs", import.meta.url));

/** Builds dist/ unless it was built from the sources as they are, so the commands timed are this code (as `npm run bench:perf` does before it starts). */
function buildIfStale(): void {
  const stamp = fileURLToPath(new URL("../scripts/build-stamp.ts", import.meta.url));
  if (spawnSync(process.execPath, ["--import", "tsx", stamp, "check"]).status === 0) return;
  console.error("perf.data: dist/ is older than the sources; npm run build");
  const build = spawnSync("npm", ["run", "build"], { stdio: ["ignore", 2, 2] });
  if (build.status !== 0) throw new Error(`npm run build failed (${build.status})`);
}

/** A CPU-bound program with call stacks 1-25 frames deep, built with frame pointers so -g walks them. */
const PROGRAM = `#include <stdlib.h>
#include <stdio.h>
static volatile unsigned long sink;
__attribute__((noinline)) unsigned long leaf(unsigned long x) { for (int i = 0; i < 200; i++) x = x * 6364136223846793005UL + 1; return x; }
__attribute__((noinline)) unsigned long rec(int d, unsigned long x) { if (d == 0) return leaf(x); return rec(d - 1, x + d) ^ leaf(x); }
int main(int argc, char **argv) { long n = atol(argv[1]); for (long i = 0; i < n; i++) sink += rec(i % 24, i); printf("%lu\\n", sink); return 0; }
`;

/**
 * A CPU-bound program with call stacks 60-200 frames deep (perf keeps 127: `kernel.perf_event_max_stack`),
 * through two functions calling each other, so a deep sample's chain repeats with its caller suffix.
 */
const DEEP_PROGRAM = `#include <stdlib.h>
#include <stdio.h>
static volatile unsigned long sink;
__attribute__((noinline)) unsigned long leaf(unsigned long x) { for (int i = 0; i < 200; i++) x = x * 6364136223846793005UL + 1; return x; }
__attribute__((noinline)) unsigned long down(int d, unsigned long x);
__attribute__((noinline)) unsigned long odd(int d, unsigned long x) { if (d <= 0) return leaf(x); return down(d - 1, x + d) + 1; }
__attribute__((noinline)) unsigned long down(int d, unsigned long x) { if (d <= 0) return leaf(x); if (d % 3 == 0) return odd(d - 1, x) ^ leaf(x); return down(d - 1, x + d) ^ leaf(x); }
int main(int argc, char **argv) { long n = atol(argv[1]); for (long i = 0; i < n; i++) sink += down(60 + (i * 7) % 141, i); printf("%lu\\n", sink); return 0; }
`;

/** Builds `source` as `dir/name` with frame pointers, so -g walks it; returns its path. */
function compile(dir: string, name: string, source: string): string {
  writeFileSync(join(dir, `${name}.c`), source);
  const cc = spawnSync("gcc", ["-O1", "-fno-omit-frame-pointer", "-o", join(dir, name), join(dir, `${name}.c`)]);
  if (cc.status !== 0) throw new Error(`gcc failed: ${cc.stderr}`);
  return join(dir, name);
}

/**
 * Records two copies of PROGRAM at 20 kHz with -g, plain and with -z, and two of DEEP_PROGRAM (with perf's
 * buffer at 4 MiB, so its 1 KiB samples are not lost: a PERF_RECORD_LOST would make every frame after it
 * unresolved), into `dir`.
 */
function record(dir: string, quick: boolean): string[] {
  const work = `${compile(dir, "work", PROGRAM)} ${quick ? 60000 : 350000}`;
  const deep = `${compile(dir, "deep", DEEP_PROGRAM)} ${quick ? 4000 : 20000}`;
  return (
    [
      ["g.data", [], work],
      ["g-z.data", ["-z"], work],
      ["deep.data", ["-m", "1024"], deep],
    ] as const
  ).map(([name, extra, command]) => {
    const out = join(dir, name);
    const args = ["record", "-q", "-e", "cpu-clock", "-F", "20000", "-g", ...extra, "-o", out];
    const run = spawnSync("perf", [...args, "--", "sh", "-c", `${command} & ${command} & wait`], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`perf record failed: ${run.stderr}`);
    return out;
  });
}

/**
 * Writes a pipe-mode recording of about `mb` MB to `file`: one MMAP2 of pid 7, then samples with rising times
 * and 10-109-frame call chains over 5,000 distinct stacks, a FINISHED_ROUND every 2,000. Returns its samples.
 */
function synthesize(file: string, mb: number): number {
  const header = Buffer.alloc(16 + 136 + 104);
  header.write("PERFILE2", 0, "latin1");
  header.writeBigUInt64LE(16n, 8);
  // HEADER_ATTR: a 128-byte attr, cpu-clock, sample_type IP|TID|TIME|CALLCHAIN|PERIOD, sample_id_all.
  header.writeUInt32LE(64, 16);
  header.writeUInt16LE(136, 22);
  header.writeUInt32LE(1, 24);
  header.writeUInt32LE(128, 28);
  header.writeBigUInt64LE(0x127n, 48);
  header[66] = 1 << 2;
  // MMAP2 of /bin/synth at 0x400000 (device 8:1, inode 12345), with its sample_id (pid, tid, time 1).
  const mmap = header.subarray(152);
  mmap.writeUInt32LE(10, 0);
  mmap.writeUInt16LE(2, 4);
  mmap.writeUInt16LE(mmap.length, 6);
  mmap.writeUInt32LE(7, 8);
  mmap.writeUInt32LE(7, 12);
  mmap.writeBigUInt64LE(0x400000n, 16);
  mmap.writeBigUInt64LE(0x100000n, 24);
  mmap.writeUInt32LE(8, 40);
  mmap.writeUInt32LE(1, 44);
  mmap.writeBigUInt64LE(12345n, 48);
  mmap.writeUInt32LE(5, 64);
  mmap.writeUInt32LE(2, 68);
  mmap.write("/bin/synth", 72, "latin1");
  mmap.writeUInt32LE(7, 88);
  mmap.writeUInt32LE(7, 92);
  mmap.writeBigUInt64LE(1n, 96);
  const stacks = Array.from({ length: 5000 }, (_, s) => {
    const depth = 10 + (s % 100);
    const r = Buffer.alloc(56 + 8 * depth);
    r.writeUInt32LE(9, 0);
    r.writeUInt16LE(2, 4);
    r.writeUInt16LE(r.length, 6);
    r.writeBigUInt64LE(BigInt(0x400000 + 16 * (s % 997)), 8);
    r.writeUInt32LE(7, 16);
    r.writeUInt32LE(7, 20);
    r.writeBigUInt64LE(50000n, 32);
    r.writeBigUInt64LE(BigInt(depth + 1), 40);
    r.writeBigUInt64LE(0xfffffffffffffe00n, 48);
    for (let f = 1; f <= depth; f++) r.writeBigUInt64LE(BigInt(0x400008 + 64 * ((s + f * 31) % 4096)), 48 + 8 * f);
    return r;
  });
  const round = Buffer.from([68, 0, 0, 0, 0, 0, 8, 0]);
  const fd = openSync(file, "w");
  let written = writeSync(fd, header);
  let samples = 0;
  try {
    while (written < mb * 1e6) {
      const parts: Buffer[] = [];
      for (let k = 0; k < 2000; k++, samples++) {
        const r = Buffer.from(stacks[(samples * 7919) % 5000]!);
        r.writeBigUInt64LE(BigInt(10 + samples), 24);
        parts.push(r);
      }
      parts.push(round);
      written += writeSync(fd, Buffer.concat(parts));
    }
  } finally {
    closeSync(fd);
  }
  return samples;
}

/**
 * Runs `command` under `env` (this process's when undefined), its output to a file in `dir`; returns the output,
 * its wall milliseconds (as a user waits, measured around the process), its CPU milliseconds (user + system of
 * all its threads) and peak RSS (MB).
 */
function run(
  dir: string,
  command: string[],
  env?: NodeJS.ProcessEnv,
): { stdout: string; ms: number; wallMs: number; rssMB: number } {
  const out = join(dir, "stdout");
  const usage = join(dir, "usage");
  const shell = ["sh", "-c", `exec "$@" > '${out}'`, "sh", ...command];
  const start = process.hrtime.bigint();
  const r = spawnSync("/usr/bin/time", ["-f", "%U %S %M", "-o", usage, ...shell], { encoding: "utf8", env });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${command.join(" ")} failed (${r.status}): ${r.stderr}`);
  const [user, system, rss] = readFileSync(usage, "utf8").trim().split("\n").pop()!.split(" ").map(Number);
  return { stdout: readFileSync(out, "utf8"), ms: (user! + system!) * 1000, wallMs, rssMB: rss! / 1024 };
}

/**
 * A fresh process converting a recording once (cold: what a command pays beyond its start) and then `warm`
 * times more, through the build in `dist`; prints the CPU ms of each conversion and the samples converted.
 */
const CONVERT_IN_A_FRESH_PROCESS = `
import { openAsBlob } from "node:fs";
const [dist, mode, file, warm] = process.argv.slice(2);
const { convertPerfData, listBuildIds } = await import(dist + "/convert/index.js");
const blob = await openAsBlob(file);
const ms = [];
let samples = 0;
for (let i = 0; i <= Number(warm); i++) {
  const start = process.cpuUsage();
  if (mode === "pprof") samples = (await convertPerfData(blob)).summary.samples;
  else await listBuildIds(blob, { withHits: true });
  const { user, system } = process.cpuUsage(start);
  ms.push((user + system) / 1000);
}
console.log(JSON.stringify({ samples, ms }));
`;

/** Median CPU ms of the first conversion in a fresh process (cold) and of its last of `1 + warm` (warm), over `rounds` processes. */
function freshProcess(
  dir: string,
  dist: string,
  mode: "pprof" | "list",
  file: string,
  rounds: number,
  warm: number,
): { samples: number; coldMs: number; warmMs: number } {
  const script = join(dir, "convert.mjs");
  writeFileSync(script, CONVERT_IN_A_FRESH_PROCESS);
  const cold: number[] = [];
  const warmed: number[] = [];
  let samples = 0;
  for (let i = 0; i < rounds; i++) {
    const r = spawnSync(process.execPath, [script, dist, mode, file, String(warm)], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`in-process ${mode} of ${file} failed (${r.status}): ${r.stderr}`);
    const out = JSON.parse(r.stdout) as { samples: number; ms: number[] };
    samples = out.samples;
    cold.push(out.ms[0]!);
    warmed.push(out.ms[out.ms.length - 1]!);
  }
  return { samples, coldMs: median(cold), warmMs: median(warmed) };
}

/** perf's name for a temporary copy of the vdso differs on every run: `[vdso]` stands for it. */
const sameVdso = (text: string) => text.replace(/\/tmp\/perf-vdso\.so-\w+/g, "[vdso]");

/** One environment the Node side of a command row ran in. */
interface NodeSide {
  /** "as given" (this process's environment) or "without NODE_EXTRA_CA_CERTS". */
  env: string;
  /** Median CPU and wall ms of our command. */
  oursMs: number;
  oursWallMs: number;
  /** The median over the rounds of each round's perf ÷ ours, CPU and wall, and the CPU one's 95% interval. */
  ratio: number;
  wallRatio: number;
  interval: [number, number];
  /** Median CPU and wall ms of `node -e 0` in the same turns: Node's own start. */
  startMs: number;
  startWallMs: number;
  oursRssMB: number;
}

interface Row {
  file: string;
  what: string;
  /** The Node that ran our side. */
  node: string;
  perfMs: number;
  perfWallMs: number | undefined;
  oursMs: number;
  oursWallMs: number | undefined;
  /** perf's CPU time over ours; of the side without NODE_EXTRA_CA_CERTS for a command (the one judged). */
  ratio: number;
  /** A command's: the 95% interval of `ratio` (the median of the rounds' ratios) and the rounds played. */
  interval: [number, number] | undefined;
  rounds: number | undefined;
  /** perf's wall time over ours, as `ratio`. */
  wallRatio: number | undefined;
  target: number;
  holds: boolean;
  oursRssMB: number | undefined;
  /** A command's Node side in each environment: as given, and without NODE_EXTRA_CA_CERTS when it is set. */
  sides: NodeSide[] | undefined;
}

function row(file: string, what: string, perfMs: number, oursMs: number, target: number): Row {
  const ratio = perfMs / oursMs;
  const node = process.version;
  const none = { perfWallMs: undefined, oursWallMs: undefined, wallRatio: undefined, oursRssMB: undefined };
  const more = { interval: undefined, rounds: undefined, sides: undefined };
  return { file, what, node, perfMs, oursMs, ratio, target, holds: ratio >= target, ...none, ...more };
}

/** A command row: judged on the side a user without NODE_EXTRA_CA_CERTS runs (the last side), CPU time. */
function commandRow(file: string, what: string, node: string, timed: Beside, target: number): Row {
  const judged = timed.sides[timed.sides.length - 1]!;
  return {
    file,
    what,
    node,
    perfMs: timed.perfMs,
    perfWallMs: timed.perfWallMs,
    oursMs: judged.oursMs,
    oursWallMs: judged.oursWallMs,
    ratio: judged.ratio,
    interval: judged.interval,
    rounds: timed.rounds,
    wallRatio: judged.wallRatio,
    target,
    holds: judged.ratio >= target,
    oursRssMB: judged.oursRssMB,
    sides: timed.sides,
  };
}

/** "yes" when a ratio's interval clears `target`, "at its edge" when only its median does, else "no". */
function verdictOf(ratio: number, [low]: readonly number[], target: number): string {
  return low! >= target ? "yes" : ratio >= target ? "at its edge" : "no";
}

/** Median CPU milliseconds of this process over `rounds` runs of `pass`. */
async function cpuMs(rounds: number, pass: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.cpuUsage();
    await pass();
    const { user, system } = process.cpuUsage(start);
    times.push((user + system) / 1000);
  }
  return median(times);
}

/** The environments our side runs in: as given, and without NODE_EXTRA_CA_CERTS when it is set (Node 20 loads that file as it starts). */
function nodeEnvironments(): { env: string; vars: NodeJS.ProcessEnv }[] {
  const given = { env: "as given", vars: process.env };
  if (process.env.NODE_EXTRA_CA_CERTS === undefined) return [{ ...given, env: "as given (no NODE_EXTRA_CA_CERTS)" }];
  const { NODE_EXTRA_CA_CERTS: _, ...without } = process.env;
  return [given, { env: "without NODE_EXTRA_CA_CERTS", vars: without }];
}

interface Beside {
  perfMs: number;
  perfWallMs: number;
  sides: NodeSide[];
  rounds: number;
}

/** How far a command row's CPU ratio may be from its median (its 95% interval) before a run stops adding rounds. */
const PRECISION = 0.05;

/**
 * Times perf's command, ours and `node -e 0` (Node's start) `rounds` times each, taking turns (the order
 * rotated every round), ours and Node's start in each of `environments`, after checking `same` on perf's
 * output and ours in each environment; then more rounds, until the judged side's CPU ratio is known within
 * {@link PRECISION} or `maxRounds` are played. Medians of CPU and wall ms, and of each round's perf ÷ ours:
 * this machine's speed moves ±25% from second to second (perf's own CPU 467-843 ms over one minute), and a
 * round's two turns, back to back, move together.
 */
function beside(
  dir: string,
  rounds: number,
  maxRounds: number,
  node: string,
  environments: { env: string; vars: NodeJS.ProcessEnv }[],
  perf: string[],
  ours: string[],
  same: (perfOut: string, oursOut: string) => void,
): Beside {
  const perfTimes = { ms: [] as number[], wall: [] as number[] };
  const sides = environments.map(() => ({
    ms: [] as number[],
    wall: [] as number[],
    startMs: [] as number[],
    startWall: [] as number[],
    rss: 0,
  }));
  const turns: (() => void)[] = [
    () => {
      const p = run(dir, perf);
      if (perfTimes.ms.length === 0)
        for (const e of environments) same(p.stdout, run(dir, [node, ...ours], e.vars).stdout);
      perfTimes.ms.push(p.ms);
      perfTimes.wall.push(p.wallMs);
    },
  ];
  environments.forEach((e, i) => {
    const side = sides[i]!;
    turns.push(() => {
      const o = run(dir, [node, ...ours], e.vars);
      side.ms.push(o.ms);
      side.wall.push(o.wallMs);
      side.rss = Math.max(side.rss, o.rssMB);
    });
    turns.push(() => {
      const s = run(dir, [node, "-e", "0"], e.vars);
      side.startMs.push(s.ms);
      side.startWall.push(s.wallMs);
    });
  });
  const ratios = (perf: number[], ours: number[]) => perf.map((p, r) => p / ours[r]!);
  const judged = sides[sides.length - 1]!;
  let played = 0;
  for (; played < maxRounds; played++) {
    if (played >= rounds) {
      const cpu = ratios(perfTimes.ms, judged.ms);
      if (reachOf(medianInterval(cpu), median(cpu)) <= PRECISION) break;
    }
    for (let k = 0; k < turns.length; k++) turns[(k + played) % turns.length]!();
  }
  return {
    perfMs: median(perfTimes.ms),
    perfWallMs: median(perfTimes.wall),
    rounds: played,
    sides: sides.map((s, i) => ({
      env: environments[i]!.env,
      oursMs: median(s.ms),
      oursWallMs: median(s.wall),
      ratio: median(ratios(perfTimes.ms, s.ms)),
      wallRatio: median(ratios(perfTimes.wall, s.wall)),
      interval: medianInterval(ratios(perfTimes.ms, s.ms)),
      startMs: median(s.startMs),
      startWallMs: median(s.startWall),
      oursRssMB: s.rss,
    })),
  };
}

/** Runs the perf.data benchmark: `--quick` for a small recording and one round, `--json` to also write perf.json. */
export async function main(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      rounds: { type: "string" },
      "max-rounds": { type: "string" },
      json: { type: "boolean" },
      out: { type: "string" },
      cli: { type: "string" },
      node: { type: "string" },
      big: { type: "string" },
    },
    allowPositionals: true,
  });
  const quick = values.quick === true;
  const rounds = Number(values.rounds ?? (quick ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1)
    throw new RangeError(`--rounds must be a positive integer, got ${values.rounds}`);
  const maxRounds = Number(values["max-rounds"] ?? (quick ? rounds : Math.max(rounds, 40)));
  if (!Number.isInteger(maxRounds) || maxRounds < rounds)
    throw new RangeError(`--max-rounds must be an integer >= --rounds (${rounds}), got ${values["max-rounds"]}`);
  if (values.cli === undefined) buildIfStale();
  const cli = values.cli ?? CLI;
  const bigMB = Number(values.big ?? (quick ? 100 : 1000));
  if (!Number.isInteger(bigMB) || bigMB < 0)
    throw new RangeError(`--big must be an integer >= 0 (MB), got ${values.big}`);
  if (!existsSync(cli)) return console.log(`perf.data: skipped, no ${cli} (npm run build)`);
  const dir = mkdtempSync(join(tmpdir(), "bench-perf-"));
  const rows: Row[] = [];
  const reads: { file: string; mb: number; heldMB: number; ms: number; mbPerS: number }[] = [];
  const fresh: { file: string; what: string; samples: number; coldMs: number; warmMs: number }[] = [];
  // dist/ of the bin (dist/cli.cjs) or of an older build's dist/node/cli.js
  const dist = basename(dirname(cli)) === "node" ? dirname(dirname(cli)) : dirname(cli);
  try {
    const files = positionals.length > 0 ? positionals : record(dir, quick);
    const nodePath = values.node ?? process.execPath;
    const nodeVersion = spawnSync(nodePath, ["--version"], { encoding: "utf8" }).stdout.trim();
    if (!/^v\d/.test(nodeVersion)) throw new Error(`--node ${nodePath} does not run`);
    const environments = nodeEnvironments();
    const node = [nodePath, cli];
    for (const file of files) {
      const name = file.split("/").pop()!;
      const pprof = beside(
        dir,
        rounds,
        maxRounds,
        nodePath,
        environments,
        ["perf", "script", "-i", file],
        [cli, "pprof", file, "-o", join(dir, "p.pb.gz"), "--json"],
        (p, o) => {
          const printed = p.split("\n").filter((l) => /^\s*\S.*\s\d+\.\d+:\s+\d+ \S+:\s*$/.test(l)).length;
          const converted = JSON.parse(o).samples as number;
          if (printed !== converted)
            throw new Error(`${name}: perf script printed ${printed} samples, pprof converted ${converted}`);
        },
      );
      rows.push(commandRow(name, "buildid-cache pprof (call chains kept) vs perf script", nodeVersion, pprof, 2));
      const list = beside(
        dir,
        rounds,
        maxRounds,
        nodePath,
        environments,
        ["perf", "buildid-list", "-H", "-i", file],
        [cli, "buildid-list", "-H", "-i", file],
        (p, o) => {
          if (sameVdso(p) !== sameVdso(o))
            throw new Error(`${name}: buildid-list -H differs from perf's:\n${p}\n---\n${o}`);
        },
      );
      rows.push(commandRow(name, "buildid-cache buildid-list -H vs perf's", nodeVersion, list, 1));
      const blob = await openAsBlob(file);
      const resolver = await BuildIdResolver.create();
      const convert = await cpuMs(rounds, () => convertPerfData(blob, { readBuildId: recordedFileReader(resolver) }));
      rows.push(row(name, "pprof conversion in process vs perf script", pprof.perfMs, convert, 2));
      const listing = await cpuMs(rounds, () => listBuildIds(blob, { withHits: true }));
      rows.push(row(name, "buildid-list --with-hits in process vs perf's", list.perfMs, listing, 1));
      let held = 0;
      const read = await cpuMs(rounds, async () => {
        held = 0;
        for await (const batch of streamPerfData(blob).rawBatches()) for (const r of batch) held += r.size;
      });
      const converted = freshProcess(dir, dist, "pprof", file, rounds, 3);
      const listed = freshProcess(dir, dist, "list", file, rounds, 3);
      fresh.push({ file: name, what: "pprof conversion", ...converted });
      fresh.push({ file: name, what: "buildid-list --with-hits", ...listed, samples: converted.samples });
      const mb = statSync(file).size / 1e6;
      reads.push({ file: name, mb, heldMB: held / 1e6, ms: read, mbPerS: held / 1e6 / (read / 1000) });
    }
    const big: { what: string; samples: number; rssMB: number; ms: number }[] = [];
    if (bigMB > 0) {
      const file = join(dir, "big.data");
      const samples = synthesize(file, bigMB);
      const convert = run(dir, [...node, "pprof", file, "-o", join(dir, "big.pb.gz"), "--no-read-files", "--json"]);
      const converted = JSON.parse(convert.stdout).samples as number;
      if (converted !== samples) throw new Error(`pprof converted ${converted} of the ${samples} samples synthesized`);
      big.push({ what: "pprof", samples, rssMB: convert.rssMB, ms: convert.ms });
      const list = run(dir, [...node, "buildid-list", "-H", "-i", file]);
      if (!list.stdout.includes("/bin/synth"))
        throw new Error(`buildid-list -H did not list /bin/synth:\n${list.stdout}`);
      big.push({ what: "buildid-list -H", samples, rssMB: list.rssMB, ms: list.ms });
      rmSync(file);
    }
    const env = environments.map((e) => e.env).join(" / ");
    console.log(
      `perf.data beside perf (${rounds} to ${maxRounds} rounds taking turns, medians; CPU = user + system ms of the whole process, wall = as a user waits; ${cli})`,
    );
    console.log(
      `A command's ratio is the median over the rounds of each round's perf ÷ ours, with its ${CONFIDENCE * 100}% interval; rounds are added until the judged one is known within ±${PRECISION * 100}% or ${maxRounds} are played; it holds when the interval clears the target, "at its edge" when only the median does`,
    );
    console.log(
      `Commands: ours under Node ${nodeVersion} in each environment (${env}); node -e 0 is that Node's own start, in the same turns; the target is judged on the last environment, CPU time`,
    );
    console.log(
      "| recording | what | Node | environment | rounds | perf wall | ours wall | ratio wall | perf CPU | ours CPU | ratio CPU [interval] | node -e 0 wall / CPU | target | holds | our peak RSS |",
    );
    console.log("|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|");
    const ms = (n: number | undefined) => (n === undefined ? "" : n.toFixed(0));
    for (const r of rows) {
      const target = `>= ${r.target}x`;
      if (r.sides === undefined) {
        const head = `| ${r.file} | ${r.what} | ${r.node} | this process | ${rounds} |`;
        console.log(
          `${head} | | | ${ms(r.perfMs)} | ${ms(r.oursMs)} | ${r.ratio.toFixed(2)}x | | ${target} | ${r.holds ? "yes" : "no"} | |`,
        );
        continue;
      }
      r.sides.forEach((side, i) => {
        const verdict = verdictOf(side.ratio, side.interval, r.target);
        const holds = i === r.sides!.length - 1 ? verdict : `(${verdict}, not judged)`;
        const [low, high] = side.interval.map((x) => x.toFixed(2));
        console.log(
          `| ${r.file} | ${r.what} | ${r.node} | ${side.env} | ${r.rounds} | ${ms(r.perfWallMs)} | ${ms(side.oursWallMs)} | ${side.wallRatio.toFixed(2)}x | ${ms(r.perfMs)} | ${ms(side.oursMs)} | ${side.ratio.toFixed(2)}x [${low}..${high}] | ${ms(side.startWallMs)} / ${ms(side.startMs)} | ${target} | ${holds} | ${side.oursRssMB.toFixed(0)} MB |`,
        );
      });
    }
    console.log(
      `\nReading records in this process (Node ${process.version}) and peak RSS (Node ${nodeVersion}, ${environments[0]!.env})`,
    );
    console.log("| recording | what | ours | target | holds |");
    console.log("|---|---|--:|--:|---|");
    for (const r of reads)
      console.log(
        `| ${r.file} | reading records (${r.mb.toFixed(1)} MB file, ${r.heldMB.toFixed(1)} MB of records, streamed from a Blob): ${r.ms.toFixed(0)} ms CPU | ${r.mbPerS.toFixed(0)} MB/s of records | >= 100 MB/s | ${r.mbPerS >= 100 ? "yes" : "no"} |`,
      );
    for (const b of big)
      console.log(
        `| synthesized ${bigMB} MB (${b.samples} samples, pipe mode) | ${b.what}: peak RSS (one run, ${(b.ms / 1000).toFixed(1)} s CPU) | ${b.rssMB.toFixed(0)} MB | < 300 MB | ${b.rssMB < 300 ? "yes" : "no"} |`,
      );
    console.log(
      onNode(
        `\nIn process, through ${dist}: a fresh process's first conversion (cold) and its fourth (warm), median CPU ms of ${rounds} processes`,
      ),
    );
    console.log("| recording | what | samples | cold ms | warm ms | cold µs/sample | warm µs/sample |");
    console.log("|---|---|--:|--:|--:|--:|--:|");
    for (const f of fresh)
      console.log(
        `| ${f.file} | ${f.what} | ${f.samples} | ${f.coldMs.toFixed(0)} | ${f.warmMs.toFixed(0)} | ${((1000 * f.coldMs) / f.samples).toFixed(2)} | ${((1000 * f.warmMs) / f.samples).toFixed(2)} |`,
      );
    if (values.json === true) {
      const json = `${JSON.stringify({ node: process.version, commandNode: nodeVersion, rounds, rows, reads, fresh, big }, null, 2)}\n`;
      console.log(`\nwrote ${writeResults(values.out, { "perf.json": json }).join(", ")}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, "bench:perf", main);
