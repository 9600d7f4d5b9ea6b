// src/inline.ts in Chromium: a page bundled without any .wasm file still creates working caches.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Chromium, launchChromium, type StaticServer, serveStatic } from "./harness.js";

const INLINE_ENTRY = resolve(import.meta.dirname, "../../src/inline.ts");
const KEY = "0xffff888012345678n";
const BUILD_ID = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

let scratch: string;
let server: StaticServer;
let browser: Chromium;

describe("the inline entry in Chromium", () => {
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "buildid-cache-inline-"));
    await writeFile(join(scratch, "index.html"), '<!doctype html><script type="module" src="./main.ts"></script>\n');
    await writeFile(
      join(scratch, "main.ts"),
      `import { BuildIdCache } from ${JSON.stringify(INLINE_ENTRY)};
try {
  const cache = await BuildIdCache.create({ capacity: 8 });
  cache.set(${KEY}, ${JSON.stringify(BUILD_ID)});
  document.body.dataset.result = JSON.stringify({ id: cache.get(${KEY}), size: cache.size });
} catch (error) {
  document.body.dataset.result = JSON.stringify({ error: String(error) });
}
`,
    );
    const dist = join(scratch, "dist");
    await build({
      configFile: false,
      root: scratch,
      logLevel: "silent",
      base: "./",
      build: { outDir: dist, assetsInlineLimit: 0 },
    });
    // The inline entry names no .wasm file, so the bundler emits none: the embedded copy must do.
    expect((await readdir(dist, { recursive: true })).filter((file) => file.endsWith(".wasm"))).toEqual([]);
    server = await serveStatic(dist);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it("stores and returns a build ID without fetching any .wasm file", async () => {
    const page = await browser.context.newPage();
    await page.goto(server.url);
    const result = await page.locator("body[data-result]").getAttribute("data-result");
    expect(JSON.parse(result ?? "null")).toEqual({ id: BUILD_ID, size: 1 });
    expect(server.requests.filter((path) => path.endsWith(".wasm"))).toEqual([]);
  });
});
