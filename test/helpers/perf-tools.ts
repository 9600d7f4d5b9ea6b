// perf itself as the oracle: records workloads with `perf record` into a temporary directory and reads
// back what perf makes of a file (`perf script -D`, `perf buildid-list`).
import { spawnSync } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Why perf cannot record here (a reason to skip), or undefined when it can. */
export function perfCannotRecord(dir: string): string | undefined {
  const out = join(dir, "probe.data");
  const run = spawnSync("perf", ["record", "-q", "-e", "cpu-clock", "-o", out, "--", "true"], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (run.error) return `perf is not installed (${run.error.message})`;
  if (run.status !== 0) return `perf record fails here: ${run.stderr.trim().split("\n").slice(-2).join(" ")}`;
  return undefined;
}

/** A shell loop and an `ls -R` over /usr/lib: an exec, a fork and well under a second of CPU on any machine. */
export const WORKLOAD = ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; ls -R /usr/lib > /dev/null"];

/**
 * The same kinds of records (an exec, a fork, libc, ld.so, the kernel) in about a tenth of the samples
 * (some 400, 10 kHz): for the tests that compare every record or sample with perf's text output.
 */
export const LIGHT_WORKLOAD = [
  "sh",
  "-c",
  "i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; ls -lR /usr/bin > /dev/null",
];

/**
 * Runs `perf record -e cpu-clock -F 10000 -g ARGS -- workload` to `out` (`-o -` and a redirect in pipe
 * mode; with `inject`, the pipe through `perf inject -b`, which adds HEADER_BUILD_ID records).
 */
export function perfRecord(
  out: string,
  args: string[],
  options: { pipe?: boolean; inject?: boolean; workload?: string[] } = {},
): void {
  if (options.inject) {
    const raw = `${out}.raw`;
    perfRecord(raw, args, { pipe: true, workload: options.workload });
    const input = openSync(raw, "r");
    const output = openSync(out, "w");
    try {
      const run = spawnSync("perf", ["inject", "-b"], { stdio: [input, output, "pipe"], timeout: 120_000 });
      if (run.status !== 0) throw new Error(`perf inject -b failed: ${run.stderr}`);
    } finally {
      closeSync(input);
      closeSync(output);
    }
    return;
  }
  const base = ["record", "-q", "-e", "cpu-clock", "-F", "10000", "-g", ...args];
  const workload = options.workload ?? WORKLOAD;
  if (options.pipe) {
    const fd = openSync(out, "w");
    try {
      const run = spawnSync("perf", [...base, "-o", "-", "--", ...workload], {
        stdio: ["ignore", fd, "pipe"],
        timeout: 120_000,
      });
      if (run.status !== 0) throw new Error(`perf record -o - failed: ${run.stderr}`);
    } finally {
      closeSync(fd);
    }
  } else {
    const run = spawnSync("perf", [...base, "-o", out, "--", ...workload], {
      encoding: "utf8",
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 120_000,
    });
    if (run.status !== 0) throw new Error(`perf record failed: ${run.stderr}`);
  }
}

/** One record as `perf script -D` shows it, in the order perf delivers records. */
export interface DumpedRecord {
  offset: number;
  size: number;
  type: number;
  /** The time column of the record's line (0 for perf's own records). */
  time?: bigint;
  /** The rest of the `PERF_RECORD_*` line after its name. */
  name?: string;
  text?: string;
  /** The raw FP chain of a sample, markers included. */
  chain?: bigint[];
}

/**
 * Runs `perf script -D -i file` and returns the records in perf's delivery order; with `queueSize`,
 * `perf report -D` under a config that sets `report.queue-size` (perf's bound on its ordering queue).
 */
export function perfDump(file: string, queueSize?: number): DumpedRecord[] {
  const options = { encoding: "utf8" as const, maxBuffer: 1 << 30, timeout: 300_000 };
  let run: ReturnType<typeof spawnSync>;
  if (queueSize === undefined) run = spawnSync("perf", ["script", "-D", "-i", file], options);
  else {
    const config = `${file}.perfconfig`;
    writeFileSync(config, `[report]\n\tqueue-size = ${queueSize}\n`);
    run = spawnSync("perf", ["report", "-D", "-i", file], { ...options, env: { ...process.env, PERF_CONFIG: config } });
  }
  if (run.status !== 0)
    throw new Error(`perf ${queueSize === undefined ? "script" : "report"} -D failed: ${run.stderr}`);
  const records: DumpedRecord[] = [];
  let current: DumpedRecord | undefined;
  for (const line of String(run.stdout).split("\n")) {
    let m = /^(0x[0-9a-f]+|0)@\S+ \[(0x[0-9a-f]+)\]: event: (\d+)$/.exec(line);
    if (m) {
      current = { offset: Number(m[1]), size: Number(m[2]), type: Number(m[3]) };
      records.push(current);
      continue;
    }
    m = /^((?:-?\d+ )+)(0x[0-9a-f]+|0) \[(0x[0-9a-f]+)\]: PERF_RECORD_(\w+)(.*)$/.exec(line);
    if (m && current && Number(m[2]) === current.offset) {
      const prefix = m[1]!.trim().split(" ");
      current.time = BigInt(prefix[prefix.length - 1]!);
      current.name = m[4]!;
      current.text = m[5]!;
      continue;
    }
    m = /^\.\.\. FP chain: nr:(\d+)$/.exec(line);
    if (m && current) {
      current.chain = [];
      continue;
    }
    m = /^\.\.\.\.\. +\d+: ([0-9a-f]+)$/.exec(line);
    if (m && current?.chain) current.chain.push(BigInt(`0x${m[1]}`));
  }
  return records;
}

/** `perf buildid-list -i file`: the `<build id> <path>` lines that have a build ID, sorted. */
export function perfBuildIdList(file: string): string[] {
  const run = spawnSync("perf", ["buildid-list", "-i", file], { encoding: "utf8", timeout: 120_000 });
  if (run.status !== 0) throw new Error(`perf buildid-list failed: ${run.stderr}`);
  return run.stdout
    .split("\n")
    .filter((line) => /^[0-9a-f]+ /.test(line))
    .sort();
}

/** The count in perf script's "N out of order events recorded." warning (0 when it gives none). */
export function perfOutOfOrder(file: string): number {
  const run = spawnSync("perf", ["script", "-i", file], {
    encoding: "utf8",
    maxBuffer: 1 << 30,
    timeout: 300_000,
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (run.status !== 0) throw new Error(`perf script failed: ${run.stderr}`);
  return Number(/(\d+) out of order events recorded/.exec(run.stderr)?.[1] ?? 0);
}
