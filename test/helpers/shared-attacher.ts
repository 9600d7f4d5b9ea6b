// A thread that attaches `attaches` readers to a shared table, one after another, then reports:
// each instantiation writes the module's data segments into the shared memory.
import { parentPort, workerData } from "node:worker_threads";
import { BuildIdCacheReader, type SharedCacheHandle } from "../../src/shared.js";

const { handle, attaches, done } = workerData as { handle: SharedCacheHandle; attaches: number; done: Int32Array };
for (let i = 0; i < attaches; i++) await BuildIdCacheReader.attach(handle);
Atomics.add(done, 0, 1);
parentPort!.postMessage(attaches);
