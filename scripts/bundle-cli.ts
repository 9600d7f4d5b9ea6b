// Bundles the command line over tsc's dist/node/cli.js, in place: one entry file (the CLI, commander and
// what every command shares) and one chunk per command and per shared part in dist/cli/, loaded as the
// command named needs them. Node then resolves and loads a dozen files for a command instead of about 60
// (buildid-list on a small recording: 0.29 -> 0.23 s CPU on Node 20). The WebAssembly loader stays
// tsc's dist/wasm.js and dist/default-core.js, imported by path, so the package has one loader whose
// `new URL("../build/core.wasm", import.meta.url)` still names the package's build/.
// Usage: tsx scripts/bundle-cli.ts (after tsc -p tsconfig.build.json)
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
  plugins: [keepLoader],
  logLevel: "warning",
});
