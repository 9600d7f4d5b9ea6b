// The stress test's writer: random inserts, updates, deletes, batches and evictions at capacity
// over keyBase + [0, keys), every build ID idFor(key, generation).
import { Worker } from "node:worker_threads";
import type { BuildIdCache } from "../../src/cache.js";
import { BUILD_ID_MAX } from "../../src/layout.js";
import { idFor, xorshift } from "./shared-ids.js";
import type { ReaderResult, ReaderTask } from "./shared-reader.js";

/** The writer's settings. */
export interface Churn {
  keyBase: bigint;
  keys: number;
  seed: number;
}

/** A function that does one random write to `cache` per call; `verify` every 4096th call. */
export function churner(cache: BuildIdCache, { keyBase, keys, seed }: Churn): () => void {
  const random = xorshift(seed);
  const pick = () => keyBase + BigInt(Math.floor(random() * keys));
  const batch = new BigUint64Array(16);
  const ids = new Uint8Array(batch.length * BUILD_ID_MAX);
  let gen = 0;
  let steps = 0;
  return () => {
    const op = random();
    if (op < 0.6) {
      const key = pick();
      cache.set(key, idFor(key, ++gen));
    } else if (op < 0.75) {
      cache.delete(pick());
    } else if (op < 0.87) {
      // One length per batch: the keys whose ID has it, others take the single-key path.
      const length = idFor(pick(), 0).length;
      let n = 0;
      while (n < batch.length) {
        const key = pick();
        if (idFor(key, 0).length !== length || batch.subarray(0, n).includes(key)) continue;
        batch[n] = key;
        ids.set(idFor(key, ++gen), n++ * BUILD_ID_MAX);
      }
      cache.setMany(batch, ids, length);
    } else if (op < 0.9999) {
      for (let i = 0; i < batch.length; i++) batch[i] = pick();
      cache.deleteMany(batch);
    } else {
      cache.clear();
    }
    if (++steps % 4096 === 0) cache.verify();
  };
}

/** Starts a reader thread on `task` (test/helpers/shared-reader.ts, run through tsx). */
export function startReader(task: Omit<ReaderTask, "done">, done: Int32Array): Promise<ReaderResult> {
  const script = new URL("./shared-reader.ts", import.meta.url).href;
  const worker = new Worker(new URL("./ts-worker.mjs", import.meta.url), { workerData: { ...task, done, script } });
  return new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`reader thread exited with code ${code} before reporting`)));
  });
}

/**
 * Runs `step` until every one of `readers` has added 1 to `done[0]`, giving the event loop a turn
 * every 1024 steps so that a reader that failed fails the run. Returns the steps run.
 */
export async function writeUntilDone(step: () => void, done: Int32Array, readers: Promise<unknown>[]): Promise<number> {
  let failed: unknown;
  for (const reader of readers) reader.catch((error) => (failed ??= error));
  let steps = 0;
  while (Atomics.load(done, 0) < readers.length) {
    step();
    if (++steps % 1024 === 0) {
      await new Promise(setImmediate);
      if (failed !== undefined) throw failed;
    }
  }
  return steps;
}
