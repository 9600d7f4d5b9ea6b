// Reading perf.data: records per second and MB/s of the raw layer, the parse step, perf's ordering, the
// streaming path and zstd (-z) recordings, on a real `perf record -e cpu-clock -g` recording of about
// 16 MB made here (or the files given).
//   npx tsx bench/perf-read.ts [--rounds N] [FILE.data ...]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { orderRecords, readPerfData, streamPerfData } from "../src/perf/index.js";

const { values, positionals } = parseArgs({
  options: { rounds: { type: "string", default: "5" } },
  allowPositionals: true,
});
const rounds = Number(values.rounds);

/** A CPU-bound program with call stacks 1-25 frames deep, built with frame pointers so -g walks them. */
const PROGRAM = `#include <stdlib.h>
#include <stdio.h>
static volatile unsigned long sink;
__attribute__((noinline)) unsigned long leaf(unsigned long x) { for (int i = 0; i < 200; i++) x = x * 6364136223846793005UL + 1; return x; }
__attribute__((noinline)) unsigned long rec(int d, unsigned long x) { if (d == 0) return leaf(x); return rec(d - 1, x + d) ^ leaf(x); }
int main(int argc, char **argv) { long n = atol(argv[1]); for (long i = 0; i < n; i++) sink += rec(i % 24, i); printf("%lu\\n", sink); return 0; }
`;

function record(dir: string): string[] {
  writeFileSync(join(dir, "work.c"), PROGRAM);
  const cc = spawnSync("gcc", ["-O1", "-fno-omit-frame-pointer", "-o", join(dir, "work"), join(dir, "work.c")]);
  const work = cc.status === 0 ? `${join(dir, "work")} 350000` : "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done";
  const files: string[] = [];
  for (const [name, extra] of [
    ["g.data", []],
    ["g-z.data", ["-z"]],
  ] as const) {
    const out = join(dir, name);
    const run = spawnSync(
      "perf",
      [
        "record",
        "-q",
        "-e",
        "cpu-clock",
        "-F",
        "20000",
        "-g",
        ...extra,
        "-o",
        out,
        "--",
        "sh",
        "-c",
        `${work} & ${work} & wait`,
      ],
      {
        stdio: ["ignore", "ignore", "pipe"],
        encoding: "utf8",
      },
    );
    if (run.status !== 0) throw new Error(`perf record failed: ${run.stderr}`);
    files.push(out);
  }
  return files;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** Median wall and CPU time of `rounds` passes (CPU time stands for wall time on a machine others load). */
async function time(pass: () => number | Promise<number>): Promise<{ wall: number; cpu: number; records: number }> {
  const walls: number[] = [];
  const cpus: number[] = [];
  let records = 0;
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const startCpu = cpuMs();
    records = await pass();
    cpus.push(cpuMs() - startCpu);
    walls.push(performance.now() - start);
  }
  return { wall: median(walls), cpu: median(cpus), records };
}

const dir = mkdtempSync(join(tmpdir(), "bench-perf-read-"));
try {
  const files = positionals.length > 0 ? positionals : record(dir);
  console.log(
    `Node ${process.version}, ${rounds} rounds; medians; MB/s of the file and of the records it holds, by CPU time`,
  );
  for (const file of files) {
    const bytes = new Uint8Array(readFileSync(file));
    const data = readPerfData(bytes);
    const mb = statSync(file).size / 1e6;
    let samples = 0;
    let recordBytes = 0;
    for (const r of data.rawRecords()) {
      if (r.type === 9) samples++;
      if (r.type !== 81) recordBytes += r.size;
    }
    const held = recordBytes / 1e6;
    const zstd = data.session.compression ? `, zstd level ${data.session.compression.level}` : "";
    console.log(`\n${file}: ${mb.toFixed(1)} MB holding ${held.toFixed(1)} MB of records, ${samples} samples${zstd}`);
    const passes: [string, () => number | Promise<number>][] = [
      [
        "raw records",
        () => {
          let n = 0;
          for (const _ of data.rawRecords()) n++;
          return n;
        },
      ],
      [
        "parsed records",
        () => {
          let n = 0;
          for (const _ of data.records()) n++;
          return n;
        },
      ],
      [
        "parsed + ordered",
        () => {
          let n = 0;
          for (const _ of orderRecords(data.records())) n++;
          return n;
        },
      ],
      [
        "streamed (64 KiB chunks), parsed batches",
        async () => {
          const chunks = function* () {
            for (let at = 0; at < bytes.length; at += 65536) yield bytes.subarray(at, at + 65536);
          };
          let n = 0;
          for await (const batch of streamPerfData(chunks()).batches()) n += batch.length;
          return n;
        },
      ],
    ];
    for (const [name, pass] of passes) {
      const { wall, cpu, records } = await time(pass);
      const rate = (m: number) => (m / (cpu / 1000)).toFixed(0).padStart(5);
      console.log(
        `  ${name.padEnd(34)} wall ${wall.toFixed(0).padStart(5)} ms  cpu ${cpu.toFixed(0).padStart(5)} ms  ${rate(mb)} MB/s  ${rate(held)} MB/s of records  ${(((records / cpu) * 1000) / 1e6).toFixed(2)} M records/s`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
