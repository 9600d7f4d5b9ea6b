// Crash-test child (bundled by the test, so it starts fast): resumes from the snapshot file at
// argv[2] (if any) with the core at URL argv[3], then walks the states of crash-states.ts, saving
// each one atomically and printing "saved N" after each rename, until killed.
import { BuildIdCache } from "../../src/cache.js";
import { loadSnapshotFile, saveSnapshotAtomic } from "../../src/node/snapshot-file.js";
import { CRASH_CAPACITY, SEQUENCE_KEY, step } from "./crash-states.js";

const [path, wasm] = process.argv.slice(2) as [string, string];
const bytes = await loadSnapshotFile(path);
const cache = bytes
  ? await BuildIdCache.restore(bytes, { wasm })
  : await BuildIdCache.create({ capacity: CRASH_CAPACITY, wasm });
let n = bytes ? Number.parseInt(cache.get(SEQUENCE_KEY)!, 16) : 0;
process.stdout.write(`ready ${n}\n`);
for (;;) {
  step(cache, ++n);
  await saveSnapshotAtomic(path, cache.snapshot());
  process.stdout.write(`saved ${n}\n`);
}
