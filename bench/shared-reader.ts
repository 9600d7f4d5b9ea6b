// A bench/shared.ts reader thread: getMany over random keys, 1024 a call, until told to stop.
import { parentPort, workerData } from "node:worker_threads";
import { BUILD_ID_MAX } from "../src/layout.js";
import { BuildIdCacheReader, type SharedCacheHandle } from "../src/shared.js";

const { handle, keys, stop } = workerData as { handle: SharedCacheHandle; keys: BigUint64Array; stop: Int32Array };
const reader = await BuildIdCacheReader.attach(handle);
const out = new Uint8Array(1024 * BUILD_ID_MAX);
const lengths = new Uint8Array(1024);
let reads = 0;
const started = performance.now();
for (let at = 0; Atomics.load(stop, 0) === 0; at = (at + 1024) % keys.length) {
  reader.getMany(keys.subarray(at, at + 1024), out, lengths);
  reads += 1024;
}
const seconds = (performance.now() - started) / 1000;
parentPort!.postMessage({ reads, seconds, contendedMisses: reader.stats().contendedMisses });
