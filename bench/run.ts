// `npm run bench`: the matrix (bench/core.ts), then the other sections when present.
//   npm run bench -- [--quick] [--json] [--out DIR] [--only core,absl,calls,elf,model,shared,perf]
//                    [--sizes 1000,65536] [--dists slab] [--impls wasm,absl] [--parts matrix,calls] [--rounds 5]
import { existsSync } from "node:fs";
import { main as core } from "./core.js";
import { runIfMain } from "./harness.js";

/** Sections that are the core section with fewer parts: rerun alone after a change to the table. */
const PRESETS = {
  absl: [
    ...["--dists", "slab", "--sizes", "65536,1000000", "--parts", "matrix,memory,calls"],
    ...["--impls", "wasm,native,absl,batch,single,lru-cache"],
  ],
  calls: ["--parts", "calls"],
} as const;

/** Sections after the matrix; each is bench/NAME.ts exporting `main(args)`, skipped when absent. */
const SECTIONS = ["elf", "model", "shared", "perf"] as const;

type Section = { main(args: string[]): Promise<void> };

/** Runs the sections chosen by `--only` (core and every section by default); `--quick`, `--json` and `--out` reach every section. */
export async function main(args: string[]): Promise<void> {
  const at = args.indexOf("--only");
  const only = at >= 0 ? args[at + 1]?.split(",") : undefined;
  const known = ["core", ...Object.keys(PRESETS), ...SECTIONS];
  if (only !== undefined) {
    const bad = only.filter((name) => !known.includes(name));
    if (bad.length > 0 || only.length === 0)
      throw new RangeError(
        `--only: ${JSON.stringify(args[at + 1] ?? "")} must name sections among ${known.join(", ")}`,
      );
  }
  const rest = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
  const wanted = (name: string) =>
    only === undefined ? name === "core" || SECTIONS.includes(name as never) : only.includes(name);
  if (wanted("core")) await core(rest);
  for (const [name, preset] of Object.entries(PRESETS)) if (wanted(name)) await core([...preset, ...rest]);
  const shared = rest.flatMap((a, i) =>
    a === "--quick" || a === "--json" ? [a] : a === "--out" && rest[i + 1] !== undefined ? [a, rest[i + 1]!] : [],
  );
  for (const name of SECTIONS) {
    const file = new URL(`./${name}.ts`, import.meta.url);
    if (!wanted(name) || !existsSync(file)) continue;
    const section = (await import(file.href)) as Section;
    await section.main(shared);
  }
}

runIfMain(import.meta.url, "bench", main);
