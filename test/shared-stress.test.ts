// One writer churns a shared table while reader threads check every hit against the pure
// function of its key. SHARED_STRESS_READS (total, default 400,000; npm run stress:shared: 10
// million) and SHARED_STRESS_SEED replay a run; 0 wrong IDs and 0 traps is the only pass.
import { describe, expect, test } from "vitest";
import { BuildIdCache } from "../src/cache.js";
import { churner, startReader, writeUntilDone } from "./helpers/shared-churn.js";

const READERS = 2;
const READS = Number(process.env.SHARED_STRESS_READS ?? 400_000);
const SEED = Number(process.env.SHARED_STRESS_SEED ?? Date.now() % 2 ** 31);

describe("shared cache under a churning writer", () => {
  test(`${READERS} reader threads, ${READS} reads: every hit is its key's build ID`, {
    timeout: 3_600_000,
  }, async () => {
    console.log(`shared stress: SHARED_STRESS_SEED=${SEED} SHARED_STRESS_READS=${READS}`);
    const keyBase = 0xffff_8880_0000_0000n;
    const keys = 3000;
    using cache = await BuildIdCache.create({ capacity: 2048, shared: true });
    const done = new Int32Array(new SharedArrayBuffer(4));
    const results = Array.from({ length: READERS }, (_, r) =>
      startReader(
        { handle: cache.share(), keyBase, keys, reads: Math.ceil(READS / READERS), seed: SEED + r + 1 },
        done,
      ),
    );
    const writes = await writeUntilDone(churner(cache, { keyBase, keys, seed: SEED }), done, results);
    const all = await Promise.all(results);
    const sum = (field: "reads" | "hits" | "wrong" | "traps" | "contendedMisses") =>
      all.reduce((total, result) => total + result[field], 0);
    console.log(
      `shared stress: ${sum("reads")} reads, ${sum("hits")} hits, ${sum("wrong")} wrong IDs, ${sum("traps")} traps, ` +
        `${sum("contendedMisses")} contended misses, ${writes} writes`,
    );
    expect(all.map((result) => result.firstWrong).filter(Boolean)).toEqual([]);
    expect({ wrong: sum("wrong"), traps: sum("traps") }).toEqual({ wrong: 0, traps: 0 });
    expect(sum("reads")).toBeGreaterThanOrEqual(READS);
    expect(sum("hits")).toBeGreaterThan(0);
    expect(writes).toBeGreaterThan(0);
    cache.verify();
  });
});
