// Run with `node --max-old-space-size=N --import tsx core-reader.ts CORE [MAX_BYTES]`: reads the core
// under that heap and prints, as JSON, how it ended, the heap it started with and the build IDs found.
import { readCoreBuildIds } from "../../src/node/core-file.js";

const [core, maxBytes] = process.argv.slice(2);
const heapBefore = process.memoryUsage().heapUsed;
const started = performance.now();
try {
  const report = await readCoreBuildIds(
    core!,
    maxBytes === undefined ? {} : { limits: { maxBytes: Number(maxBytes) } },
  );
  const found = report.modules.filter((m) => m.status === "found");
  console.log(
    JSON.stringify({
      heapBefore,
      ms: performance.now() - started,
      modules: report.modules.length,
      found: found.length,
      last: found.at(-1)?.buildId,
    }),
  );
} catch (error) {
  const { name, code, message } = error as Error & { code?: string };
  console.log(JSON.stringify({ heapBefore, ms: performance.now() - started, name, code, message }));
}
