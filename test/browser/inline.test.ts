// src/inline.ts in Chromium: a page bundled without any .wasm file still creates working caches.
import { readdir } from "node:fs/promises";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openScratchPage, type ScratchPage } from "./harness.js";

const INLINE_ENTRY = resolve(import.meta.dirname, "../../src/inline.ts");
const KEY = "0xffff888012345678n";
const BUILD_ID = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

let page: ScratchPage;

describe("the inline entry in Chromium", () => {
  beforeAll(async () => {
    page = await openScratchPage(
      "inline",
      `import { BuildIdCache } from ${JSON.stringify(INLINE_ENTRY)};
try {
  const cache = await BuildIdCache.create({ capacity: 8 });
  cache.set(${KEY}, ${JSON.stringify(BUILD_ID)});
  document.body.dataset.result = JSON.stringify({ id: cache.get(${KEY}), size: cache.size });
} catch (error) {
  document.body.dataset.result = JSON.stringify({ error: String(error) });
}
`,
      { assetsInlineLimit: 0 },
    );
    // The inline entry names no .wasm file, so the bundler emits none: the embedded copy must do.
    expect((await readdir(page.dist, { recursive: true })).filter((file) => file.endsWith(".wasm"))).toEqual([]);
  });

  afterAll(async () => {
    await page?.close();
  });

  it("stores and returns a build ID without fetching any .wasm file", async () => {
    expect(await page.result()).toEqual({ id: BUILD_ID, size: 1 });
    expect(page.server.requests.filter((path) => path.endsWith(".wasm"))).toEqual([]);
  });
});
