import { expect, test } from "vitest";
import { BuildIdCache } from "../src/index.js";

test("set then get round-trips a build ID", async () => {
  const cache = await BuildIdCache.create({ capacity: 8 });
  cache.set(1n, "ABCDEF");
  expect(cache.get(1n)).toBe("abcdef");
});
