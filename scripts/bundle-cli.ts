// Bundles the command line over tsc's dist/node/cli.js, in place: one entry file (the CLI, commander and
// what every command shares) and one chunk per command and per shared part in dist/cli/, loaded as the
// command named needs them. Node then resolves and loads a dozen files for a command instead of about 60
// (buildid-list on a small recording: 0.29 -> 0.23 s CPU on Node 20). The WebAssembly loader stays
// tsc's dist/wasm.js and dist/default-core.js, imported by path, so the package has one loader whose
// `new URL("../build/core.wasm", import.meta.url)` still names the package's build/.
// The installed command (package.json's bin) is a CommonJS launcher, dist/cli.cjs, with one CommonJS
// bundle per data command beside it (dist/cli-pprof.cjs, dist/cli-buildid-list.cjs): on their plain
// lines no ES module of ours loads, and Node never boots its ES module loader (an empty .mjs is 132 M
// instructions on Node 20, an empty .cjs 83 M). Every other line imports dist/node/cli.js from there.
// Usage: tsx scripts/bundle-cli.ts (after tsc -p tsconfig.build.json)
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { build, type Plugin } from "esbuild";

const root = resolve(import.meta.dirname, "..");
const dist = join(root, "dist");

/** tsc's modules kept out of the bundle, by their path in dist/; both output folders are one level under it. */
const UNBUNDLED = new Set(["wasm.js", "default-core.js"]);

const keepLoader: Plugin = {
  name: "keep-the-wasm-loader",
  setup(b) {
    b.onResolve({ filter: /(^|\/)(wasm|default-core)\.js$/ }, (args) => {
      const path = resolve(args.resolveDir, args.path);
      const name = path.slice(dist.length + 1);
      return path.startsWith(`${dist}/`) && UNBUNDLED.has(name) ? { path: `../${name}`, external: true } : undefined;
    });
  },
};

/**
 * The names `source` imports from `specifier` by static import statements (`default` for a default import),
 * or undefined when one of them takes the whole namespace.
 */
function importedNames(source: string, specifier: string): string[] | undefined {
  const names = new Set<string>();
  const from = new RegExp(
    `\\bimport\\s+([\\w$\\s,{}*]+?)\\s+from\\s*["']${specifier.replace(/[/.]/g, "\\$&")}["']`,
    "g",
  );
  for (const [, clause] of source.matchAll(from)) {
    if (clause!.includes("*")) return undefined;
    const braces = clause!.indexOf("{");
    const head = (braces < 0 ? clause! : clause!.slice(0, braces)).replace(/,/g, "").trim();
    if (head !== "") names.add("default");
    if (braces >= 0)
      for (const part of clause!.slice(braces + 1, clause!.indexOf("}")).split(",")) {
        const name = part.trim().split(/\s+as\s+/)[0]!;
        if (name !== "") names.add(name);
      }
  }
  return [...names];
}

/**
 * Node's built-in modules read through process.getBuiltinModule (Node 20.16+), only the names each module
 * imports, not imported as ES modules: Node makes a built-in's ES module by reading every export, which runs
 * node:fs's lazy getters (fs.promises, ReadStream, Dir, watch: about 35 more internal modules, readline and
 * streams among them) in every process whose code imports anything from node:fs. A module that takes a
 * whole namespace, and a dynamic import(), keep Node's import.
 */
const builtinsByName: Plugin = {
  name: "builtins-by-name",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, async (args) => {
      if (args.kind !== "import-statement") return undefined;
      const names = importedNames(await readFile(args.importer, "utf8"), args.path);
      if (names === undefined) return undefined;
      // One module per importer, so it lands in the importer's chunk and reads only what that importer names.
      return { path: `${args.path}?${args.importer.slice(dist.length + 1)}`, namespace: "builtin", pluginData: names };
    });
    b.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => {
      const names = args.pluginData as string[];
      const id = JSON.stringify(args.path.split("?")[0]);
      const named = names.filter((n) => n !== "default").join(", ");
      const read = `process.getBuiltinModule(${id})`;
      const contents = names.includes("default")
        ? [
            `const builtin = ${read};`,
            "export default builtin;",
            named === "" ? "" : `export const { ${named} } = builtin;`,
          ]
        : [`export const { ${named} } = ${read};`];
      return { contents: contents.join("\n"), loader: "js" };
    });
  },
};

await build({
  // The index's scan worker is an entry of its own, beside the chunk that starts it (scan-pool.ts: ./scan-worker.js).
  entryPoints: {
    "node/cli": join(dist, "node/cli.js"),
    "cli/scan-worker": join(dist, "node/debuginfod/scan-worker.js"),
  },
  outdir: dist,
  chunkNames: "cli/[name]-[hash]",
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  plugins: [keepLoader, builtinsByName],
  logLevel: "warning",
});

/**
 * The zstd decoder in WebAssembly is a CommonJS bundle of its own, dist/cli-zstd-wasm.cjs, required for `-z`
 * recordings only: imported as tsc's ES module, it booted Node 20's ES module loader (8.5 ms of CPU, 1.1 required).
 */
const keepZstdDecoder: Plugin = {
  name: "keep-the-zstd-decoder",
  setup(b) {
    b.onResolve({ filter: /(^|\/)zstd-wasm\.js$/ }, (args) => {
      const path = resolve(args.resolveDir, args.path);
      if (args.kind === "entry-point" || path !== join(dist, "zstd-wasm.js")) return undefined;
      return { path, namespace: "zstd-wasm-cjs" };
    });
    b.onLoad({ filter: /.*/, namespace: "zstd-wasm-cjs" }, () => ({
      contents: 'module.exports = require("./cli-zstd-wasm.cjs");',
      resolveDir: dist,
      loader: "js",
    }));
  },
};

await build({
  entryPoints: {
    cli: join(dist, "node/launcher.js"),
    "cli-pprof": join(dist, "node/launch-pprof.js"),
    "cli-buildid-list": join(dist, "node/launch-buildid-list.js"),
    "cli-zstd-wasm": join(dist, "zstd-wasm.js"),
  },
  outdir: dist,
  outExtension: { ".js": ".cjs" },
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  packages: "external",
  // The launcher requires the data commands' bundles by path.
  external: ["./cli-*.cjs"],
  // Each bundle sits in dist/, as tsc's dist/default-core.js does: its `../build/core.wasm` and a
  // createRequire resolve from the bundle's own file.
  define: { "import.meta.url": "__bundleUrl" },
  banner: { js: '"use strict";\nconst __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [keepZstdDecoder],
  logLevel: "warning",
});
