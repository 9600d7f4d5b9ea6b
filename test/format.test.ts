import { describe, expect, test } from "vitest";
import { formatBytes } from "../src/index.js";

describe("formatBytes", () => {
  test.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [1024 * 1024, "1.0 MiB"],
    [640 * 1024 * 1024, "640.0 MiB"],
    [3 * 1024 ** 3, "3.0 GiB"],
    [2 * 1024 ** 5, "2048.0 TiB"],
  ])("%i bytes are %s", (bytes, shown) => {
    expect(formatBytes(bytes)).toBe(shown);
  });
});
