// Threads attaching to a shared table while its writer works: an instance's per-call scratch
// must be its own, not static data that every new instance rewrites.
import { Worker } from "node:worker_threads";
import { expect, test } from "vitest";
import { BuildIdCache } from "../src/cache.js";
import { BUILD_ID_MAX } from "../src/layout.js";
import { writeUntilDone } from "./helpers/shared-churn.js";

test("readers attaching meanwhile never turn the writer's batch hits into misses", async () => {
  const keys = BigUint64Array.from({ length: 4096 }, (_, i) => 0xffff888000000000n + BigInt(i) * 1128n);
  using cache = await BuildIdCache.create({ capacity: keys.length, shared: true });
  const ids = new Uint8Array(keys.length * BUILD_ID_MAX).fill(0xab);
  cache.setMany(keys, ids, BUILD_ID_MAX);
  const done = new Int32Array(new SharedArrayBuffer(4));
  const script = new URL("./helpers/shared-attacher.ts", import.meta.url).href;
  const worker = new Worker(new URL("./helpers/ts-worker.mjs", import.meta.url), {
    workerData: { handle: cache.share(), attaches: 64, done, script },
  });
  const attached = new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  const out = new Uint8Array(keys.length * BUILD_ID_MAX);
  const lengths = new Uint8Array(keys.length);
  let calls = 0;
  let short = 0;
  await writeUntilDone(
    () => {
      calls++;
      if (cache.getMany(keys, out, lengths) !== keys.length) short++;
    },
    done,
    [attached],
  );
  expect(await attached).toBe(64);
  expect(calls).toBeGreaterThan(0);
  expect(short).toBe(0);
}, 60_000);
