// Run with `node --import tsx store-adder.ts`: for each line `DIR<TAB>PATH` on stdin, adds PATH to the
// store at DIR at once and prints what addToPerfStore returned (or its error) as one line of JSON.
// Two of these given their lines at the same moment race two adds across processes.
import { createInterface } from "node:readline";
import { addToPerfStore } from "../../src/node/perf-store.js";

for await (const line of createInterface({ input: process.stdin })) {
  const [dir, path] = line.split("\t");
  try {
    console.log(JSON.stringify(await addToPerfStore(path!, { dir: dir! })));
  } catch (error) {
    console.log(JSON.stringify({ error: (error as Error).message }));
  }
}
