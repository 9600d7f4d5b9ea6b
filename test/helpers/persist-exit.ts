// Persist-at-exit child (bundled by the crash test): persists a cache to argv[2] with no interval,
// walks to state argv[4], then calls process.exit, so only the exit save can have written the file.
import { BuildIdCache } from "../../src/cache.js";
import { persist } from "../../src/node/snapshot-file.js";
import { CRASH_CAPACITY, step } from "./crash-states.js";

const [path, wasm, states] = process.argv.slice(2) as [string, string, string];
const cache = await BuildIdCache.create({ capacity: CRASH_CAPACITY, wasm });
persist(cache, path);
for (let n = 1; n <= Number(states); n++) step(cache, n);
process.exit(0);
