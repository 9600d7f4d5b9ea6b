#!/usr/bin/env node
// Until the census exists: a short demonstration of the cache on slab-like inode addresses.
import { BuildIdCache } from "./index.js";

const cache = await BuildIdCache.create({ capacity: 16_384 });
const base = 0xffff_8880_0000_0000n;
for (let i = 0n; i < 20_000n; i++) cache.set(base + i * 1128n, (i + 1n).toString(16).padStart(40, "0"));
let found = 0;
for (let i = 0n; i < 20_000n; i++) if (cache.get(base + i * 1128n) !== undefined) found++;
console.log({ found, ...cache.stats() });
