// `npm run bench`: the matrix (bench/core.ts), then the other sections when present.
//   npm run bench -- [--quick] [--json] [--only core,elf,model] [--sizes 1000,65536] [--dists slab] [--rounds 5]
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { main as core } from "./core.js";

/** Sections after the matrix; each is bench/NAME.ts exporting `main(args)`, skipped when absent. */
const SECTIONS = ["elf", "model"] as const;

type Section = { main(args: string[]): Promise<void> };

/** Runs the sections chosen by `--only` (all by default); `--quick` and `--json` reach every section. */
export async function main(args: string[]): Promise<void> {
  const at = args.indexOf("--only");
  const only = at >= 0 ? args[at + 1]?.split(",") : undefined;
  if (only !== undefined) {
    const known = ["core", ...SECTIONS];
    const bad = only.filter((name) => !known.includes(name));
    if (bad.length > 0 || only.length === 0)
      throw new RangeError(
        `--only: ${JSON.stringify(args[at + 1] ?? "")} must name sections among ${known.join(", ")}`,
      );
  }
  const rest = at >= 0 ? [...args.slice(0, at), ...args.slice(at + 2)] : args;
  const wanted = (name: string) => only === undefined || only.includes(name);
  if (wanted("core")) await core(rest);
  const shared = rest.filter((a) => a === "--quick" || a === "--json");
  for (const name of SECTIONS) {
    const file = new URL(`./${name}.ts`, import.meta.url);
    if (!wanted(name) || !existsSync(file)) continue;
    const section = (await import(file.href)) as Section;
    await section.main(shared);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
