// The demo page: `vite web` serves it, `vite build web` writes a static site to web/dist.
import { defineConfig } from "vite";

/** Cross-origin isolation, so the page has SharedArrayBuffer for the shared cache's demo. */
const ISOLATED = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };

export default defineConfig({
  server: { headers: ISOLATED },
  preview: { headers: ISOLATED },
  worker: { format: "es" },
  // Relative asset URLs, so the built page works from any folder of any static file server.
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // Keep core.wasm a separate file so browsers compile it while it streams in.
    assetsInlineLimit: (file) => (file.endsWith(".wasm") ? false : undefined),
  },
});
