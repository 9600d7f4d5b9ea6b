// Run with `node --wasm-max-mem-pages=N --import tsx`: V8 then refuses to grow any wasm memory past
// N pages, the one way to make the core's memory.grow fail (its memory is its own, not imported).
// Prints, as JSON, what each attempt gave.
import { BuildIdCache } from "../../src/index.js";

async function outcome(
  attempt: () => Promise<BuildIdCache>,
): Promise<{ error?: string; message?: string; size?: number }> {
  try {
    const cache = await attempt();
    cache.set(1n, "01");
    return { size: cache.size };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

const capacity = Number(process.argv[2]);
const small = await BuildIdCache.create({ capacity: 100 });
small.set(7n, "0707");
console.log(
  JSON.stringify({
    tooBig: await outcome(() => BuildIdCache.create({ capacity })),
    fits: await outcome(() => BuildIdCache.create({ capacity: 1000 })),
    restoreTooBig: await outcome(() => BuildIdCache.restore(small.snapshot(), { capacity })),
    restoreFits: await outcome(() => BuildIdCache.restore(small.snapshot())),
  }),
);
