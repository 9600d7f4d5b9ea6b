// Shared readers: reader throughput with 0-2 reader threads while the writer churns at a fixed
// rate, the writer's time per change with readers present, and the contended-miss rate.
// `npx tsx bench/shared.ts [--quick] [--rate OPS_PER_S]`; one run's figures, as ratios where they compare.

import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { BuildIdCache } from "../src/index.js";
import { block, table } from "./format.js";
import { onNode, runIfMain } from "./harness.js";

const CAPACITY = 65_536;
/** Changes the writer makes between two reads of the clock. */
const CHUNK = 256;

interface Run {
  readers: number;
  rate: number;
  writerNs: number;
  reads: number;
  readsPerS: number;
  contended: number;
}

function randomKeys(n: number, range: number, seed: number): BigUint64Array {
  let s = seed;
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0;
    keys[i] = 0xffff_8880_0000_0000n + BigInt(s % range) * 1128n;
  }
  return keys;
}

async function run(readers: number, rate: number, ms: number): Promise<Run> {
  using cache = await BuildIdCache.create({ capacity: CAPACITY, shared: true });
  const range = Math.floor(CAPACITY * 1.25);
  const writes = randomKeys(1 << 20, range, 1);
  const id = new Uint8Array(20).fill(0xab);
  for (let i = 0; i < CAPACITY; i++) cache.set(writes[i]!, id);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const results = Array.from({ length: readers }, (_, r) => {
    const worker = new Worker(new URL("../test/helpers/ts-worker.mjs", import.meta.url), {
      workerData: {
        script: new URL("./shared-reader.ts", import.meta.url).href,
        handle: cache.share(),
        keys: randomKeys(1 << 16, range, 100 + r),
        stop,
      },
    });
    return new Promise<{ reads: number; seconds: number; contendedMisses: number }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  });
  // Let the readers start (tsx compiles them) before the writer's clock runs.
  await new Promise((resolve) => setTimeout(resolve, readers > 0 ? 1500 : 0));
  let ops = 0;
  let busy = 0;
  const started = performance.now();
  // Changes go in timed chunks of CHUNK, each once the schedule is due for it: clock reads stay out of ns/change.
  for (let now = started; now - started < ms; now = performance.now()) {
    if (((now - started) * rate) / 1000 < ops + CHUNK) continue;
    for (const end = ops + CHUNK; ops < end; ops++) {
      const key = writes[ops & (writes.length - 1)]!;
      if ((ops & 15) === 0) cache.delete(key);
      else cache.set(key, id);
    }
    busy += performance.now() - now;
  }
  Atomics.store(stop, 0, 1);
  const done = await Promise.all(results);
  const reads = done.reduce((sum, d) => sum + d.reads, 0);
  return {
    readers,
    rate,
    writerNs: ops === 0 ? 0 : (busy * 1e6) / ops,
    reads,
    readsPerS: done.reduce((sum, d) => sum + d.reads / d.seconds, 0),
    contended: done.reduce((sum, d) => sum + d.contendedMisses, 0),
  };
}

/** Runs the four settings and prints the table. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { quick: { type: "boolean" }, rate: { type: "string" } },
    strict: false,
  });
  const rate = Number(values.rate ?? 200_000);
  const ms = values.quick ? 500 : 3000;
  const runs = [await run(0, rate, ms), await run(1, rate, ms), await run(2, rate, ms), await run(1, 0, ms)];
  const base = runs[0]!.writerNs;
  const alone = runs[3]!.readsPerS;
  const rows = runs.map((r) => [
    r.rate === 0 ? "none" : `${r.rate}/s`,
    r.readers,
    r.rate === 0 ? "-" : r.writerNs.toFixed(0),
    r.rate === 0 ? "-" : `${(r.writerNs / base).toFixed(2)}x`,
    r.readers === 0 ? "-" : `${(r.readsPerS / 1e6).toFixed(2)}M`,
    r.readers === 0 ? "-" : `${(r.readsPerS / alone).toFixed(2)}x`,
    r.readers === 0 ? "-" : `${((100 * r.contended) / r.reads).toFixed(3)} %`,
  ]);
  const head = ["writer", "readers", "ns/change", "vs alone", "reads/s", "vs no writer", "contended"];
  process.stdout.write(
    `${onNode(`Shared readers (capacity ${CAPACITY}, release shared core, getMany of 1024; one run, machine shared)`)}\n${table(block(head, rows, 1))}\n`,
  );
}

runIfMain(import.meta.url, "bench:shared", main);
