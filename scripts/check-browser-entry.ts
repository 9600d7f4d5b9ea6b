// Bundles the universal entries for browsers and fails if a Node built-in reaches the bundle.
// Usage: tsx scripts/check-browser-entry.ts [entry.ts ...]   (default: the universal, inline, model, shared and perf entries)
import { isBuiltin } from "node:module";
import { relative, resolve } from "node:path";
import { build, type Plugin, type Rollup } from "vite";

const root = resolve(import.meta.dirname, "..");
const entries =
  process.argv.length > 2
    ? process.argv.slice(2)
    : ["src/index.ts", "src/inline.ts", "src/model/index.ts", "src/shared.ts", "src/perf/index.ts"];
const offenders: string[] = [];
const show = (id: string | undefined) => (id ? relative(root, id) : "(entry)");

// Runs before Vite's resolver, which would quietly swap a built-in for an empty browser stub.
const noNodeBuiltins: Plugin = {
  name: "no-node-builtins",
  enforce: "pre",
  resolveId(source, importer) {
    if (!isBuiltin(source)) return null;
    offenders.push(`${source} imported by ${show(importer)}`);
    return { id: source, external: true };
  },
};

const output = (await build({
  configFile: false,
  root,
  logLevel: "warn",
  plugins: [noNodeBuiltins],
  build: {
    write: false,
    minify: false,
    target: "es2022",
    lib: {
      entry: Object.fromEntries(
        entries.map((entry) => [entry.replace(/^src\/|\.ts$/g, "").replaceAll("/", "-"), resolve(root, entry)]),
      ),
      formats: ["es"],
    },
  },
})) as Rollup.RollupOutput[];

const chunks = output.flatMap((result) => result.output).filter((item) => item.type === "chunk");
for (const chunk of chunks) {
  if (chunk.code.includes("__vite-browser-external")) offenders.push(`a Node built-in stub in ${chunk.fileName}`);
}
if (offenders.length > 0) {
  console.error(`Node built-ins reached the browser bundle of ${entries.join(", ")}:\n  ${offenders.join("\n  ")}`);
  process.exit(1);
}
const bytes = chunks.reduce((sum, chunk) => sum + chunk.code.length, 0);
console.log(`browser bundle of ${entries.join(", ")}: no Node built-ins (${chunks.length} chunks, ${bytes} bytes)`);
