// The timing harness every benchmark section shares: medians, interleaved rounds, timed calls,
// the machine line, where results go, and the entry-point boilerplate.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { arch, cpus, platform, release, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { do_not_optimize } from "mitata";
import type { Spread } from "./results.js";

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The median, least and most of `values`. */
export function spread(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** `items` rotated left by `by`: round r of an interleaved run visits them in this order. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Runs `rounds` rounds; each runs every item once, in an order rotated by one from the round before. */
export async function interleave<T>(
  items: readonly T[],
  rounds: number,
  run: (item: T, round: number) => void | Promise<void>,
): Promise<void> {
  for (let r = 0; r < rounds; r++) for (const item of rotate(items, r)) await run(item, r);
}

/** How many timed calls make one figure: at least `minSamples`, over at least `minMs`. */
export interface Budget {
  minSamples: number;
  minMs: number;
}

/** ns of one call of `run`; a `manual` run returns the ns it timed itself (work inside wasm only). */
export function timeCall(run: () => number, manual = false): number {
  const t0 = performance.now();
  const result = run();
  const elapsed = (performance.now() - t0) * 1e6;
  do_not_optimize(result);
  return manual ? result : elapsed;
}

/**
 * Repeats `step` until it ran `budget.minSamples` times and `budget.minMs` passed; `step` times
 * its own parts (see {@link timeCall}). By hand, not mitata's measure(): that allocates a 2^20-slot
 * sample array and compiles a loop per call (0.1-0.2 s each here), too slow for short interleaved rounds.
 */
export function repeat(budget: Budget, step: () => void): void {
  const started = performance.now();
  for (let n = 0; n < budget.minSamples || performance.now() - started < budget.minMs; n++) step();
}

/**
 * Median ns of one call of `run`, after one untimed call: a long loop is on-stack replaced in that
 * call if at all, and every timed call enters `run` afresh, in the code V8 compiled for it.
 */
export function nsPerCall(run: () => number, budget: Budget): number {
  do_not_optimize(run());
  const samples: number[] = [];
  repeat(budget, () => samples.push(timeCall(run)));
  return median(samples);
}

/** `title` with the Node version that measured it, as every table's heading prints it. */
export function onNode(title: string, version = process.version): string {
  return `${title} [Node ${version}]`;
}

/** The machine, the runtime and the compilers, for the line above every table. */
export function machine(): Record<string, string | number> {
  const cpu = cpus();
  const version = (cc: string) => {
    try {
      return execFileSync(cc, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0]!;
    } catch {
      return "none"; // no compiler: its native row is skipped and says why
    }
  };
  return {
    cpu: cpu[0]?.model.trim() ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    v8: process.versions.v8,
    cc: version(process.env.CC ?? "cc"),
    cxx: version(process.env.CXX ?? "g++"),
    date: new Date().toISOString(),
  };
}

/** Where results go when no `--out` is given (git-ignored). */
const DEFAULT_OUT = fileURLToPath(new URL("./results/", import.meta.url));

/** Writes `files` (name to content) into `dir`, creating it; returns the paths written. */
export function writeResults(dir: string | undefined, files: Record<string, string>): string[] {
  const to = resolve(dir ?? DEFAULT_OUT);
  mkdirSync(to, { recursive: true });
  return Object.entries(files).map(([name, content]) => {
    const path = join(to, name);
    writeFileSync(path, content);
    return path;
  });
}

/** A progress line on stderr, with the seconds since `started`. */
export type Log = (message: string) => void;

/** A {@link Log} whose lines start with `name` and the seconds since it was made. */
export function logger(name: string): Log {
  const started = performance.now();
  return (message) =>
    process.stderr.write(`${name} ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s: ${message}\n`);
}

/** Runs `main` with the command line when `url` (a module's `import.meta.url`) is the script node was started with. */
export function runIfMain(url: string, name: string, main: (args: string[]) => Promise<void>): void {
  if (url !== pathToFileURL(process.argv[1] ?? "").href) return;
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${name}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
