// The demo's worker reader: attaches to the page's shared cache and reads every key over and over
// until told to stop, checking each hit against the build ID the page writes for that key.
import { BuildIdCacheReader, type SharedCacheHandle } from "../src/shared.js";
import { sharedDemoId } from "./shared-id.js";

/** What the page posts: the handle and how many keys it writes (0, 1, …, keys - 1). */
export interface ReaderStart {
  handle: SharedCacheHandle;
  keys: number;
  stop: Int32Array;
}

/** What the worker posts back, every 100 ms and once stopped. */
export interface ReaderReport {
  reads: number;
  hits: number;
  wrong: number;
  contendedMisses: number;
  done: boolean;
}

self.onmessage = async (event: MessageEvent<ReaderStart>) => {
  const { handle, keys, stop } = event.data;
  const reader = await BuildIdCacheReader.attach(handle);
  const report: ReaderReport = { reads: 0, hits: 0, wrong: 0, contendedMisses: 0, done: false };
  let last = performance.now();
  for (let key = 0; !report.done; key = (key + 1) % keys) {
    const id = reader.get(BigInt(key));
    report.reads++;
    if (id !== undefined) {
      report.hits++;
      if (!/^[0-9a-f]{8}$/.test(id) || sharedDemoId(key, Number.parseInt(id.slice(0, 4), 16)) !== id) report.wrong++;
    }
    report.done = Atomics.load(stop, 0) !== 0;
    if (report.done || performance.now() - last > 100) {
      last = performance.now();
      report.contendedMisses = reader.stats().contendedMisses;
      self.postMessage(report);
    }
  }
};
