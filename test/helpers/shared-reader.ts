// A stress-test reader thread: attaches to the shared table and checks every hit it reads
// against the pure function of its key, until it has done `reads` reads.
import { parentPort, workerData } from "node:worker_threads";
import { BUILD_ID_MAX } from "../../src/layout.js";
import { BuildIdCacheReader, type SharedCacheHandle } from "../../src/shared.js";
import { isIdOf, xorshift } from "./shared-ids.js";

/** What the test hands each reader. */
export interface ReaderTask {
  handle: SharedCacheHandle;
  /** Keys the writer churns are keyBase + [0, keys); keyBase + keys and up are never written. */
  keyBase: bigint;
  keys: number;
  reads: number;
  seed: number;
  /** Int32Array over a SharedArrayBuffer: each reader adds 1 to [0] when done. */
  done: Int32Array;
}

/** What each reader reports. */
export interface ReaderResult {
  reads: number;
  hits: number;
  wrong: number;
  traps: number;
  contendedMisses: number;
  firstWrong?: string;
}

const task = workerData as ReaderTask;
const result: ReaderResult = { reads: 0, hits: 0, wrong: 0, traps: 0, contendedMisses: 0 };
try {
  const reader = await BuildIdCacheReader.attach(task.handle);
  const random = xorshift(task.seed);
  const out = new Uint8Array(64 * BUILD_ID_MAX);
  const lengths = new Uint8Array(64);
  const batch = new BigUint64Array(64);
  // 1 in 16 keys was never written: any hit on one is wrong.
  const pick = () => task.keyBase + BigInt(Math.floor(random() * task.keys * (1 + 1 / 16)));
  const check = (key: bigint, bytes: Uint8Array, at: number, length: number, padded?: number) => {
    result.hits++;
    if (key - task.keyBase < BigInt(task.keys) && isIdOf(key, bytes, at, length, padded)) return;
    result.wrong++;
    result.firstWrong ??= `key ${key}: ${Buffer.from(bytes.subarray(at, at + BUILD_ID_MAX)).toString("hex")} (${length} B)`;
  };
  while (result.reads < task.reads) {
    const op = random();
    try {
      if (op < 0.4) {
        const key = pick();
        const hex = reader.get(key);
        result.reads++;
        if (hex !== undefined) check(key, Buffer.from(hex, "hex"), 0, hex.length / 2);
      } else if (op < 0.7) {
        const key = pick();
        out.fill(0xee, 0, BUILD_ID_MAX);
        const length = reader.getBytes(key, out);
        result.reads++;
        if (length !== 0) check(key, out, 0, length, BUILD_ID_MAX);
      } else if (op < 0.8) {
        reader.has(pick());
        result.reads++;
      } else {
        for (let i = 0; i < batch.length; i++) batch[i] = pick();
        reader.getMany(batch, out, lengths);
        result.reads += batch.length;
        for (let i = 0; i < batch.length; i++) {
          if (lengths[i] !== 0) check(batch[i]!, out, i * BUILD_ID_MAX, lengths[i]!, BUILD_ID_MAX);
        }
      }
    } catch (error) {
      if (!(error instanceof WebAssembly.RuntimeError)) throw error;
      result.traps++;
      result.reads++;
    }
  }
  result.contendedMisses = reader.stats().contendedMisses;
} finally {
  Atomics.add(task.done, 0, 1);
  parentPort!.postMessage(result);
}
