// The oracle: every ELF file of this machine's /usr/{bin,sbin,lib,libexec} plus Node's own binary,
// read by the project and by GNU readelf -n; the build IDs (and their absence) must agree on all of them.
import { readFileSync, statSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { ElfError, readBuildId } from "../src/elf.js";
import { readBuildIdFromFile, readBuildIdFromFileSync } from "../src/node/elf-file.js";
import { elfFiles } from "./helpers/elf-files.js";
import { readelfBuildIds, readelfMissing } from "./helpers/elf-writer.js";

const ROOTS = ["/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec"];
// Seconds with a warm page cache; a fresh machine first reads ~60k files' first pages, and at load 30 under nice 10 the sweep ran past 120 s (146 s).
const SWEEP_TIMEOUT = 900_000;

/** A failure as compared: undefined for NO_BUILD_ID, "error: ..." for anything else. */
function failure(e: unknown): string | undefined {
  if (e instanceof ElfError && e.code === "NO_BUILD_ID") return undefined;
  return `error: ${e instanceof Error ? `${e.name} ${e.message}` : String(e)}`;
}

/** An outcome as compared: the hex ID, or the {@link failure}. */
function outcome(read: () => { buildId: string }): string | undefined {
  try {
    return read().buildId;
  } catch (e) {
    return failure(e);
  }
}

/** The project's answer through the async file form, checked against the blocking one. */
async function ours(path: string): Promise<string | undefined> {
  const fromAsync = await readBuildIdFromFile(path).then((r) => r.buildId, failure);
  const fromSync = outcome(() => readBuildIdFromFileSync(path));
  return fromSync === fromAsync ? fromAsync : `error: async ${fromAsync}, sync ${fromSync}`;
}

async function mapBounded<T, R>(items: readonly T[], parallel: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}

const missing = readelfMissing();

describe("build IDs agree with GNU readelf -n on every ELF file of the machine", () => {
  test.skipIf(missing !== undefined)(
    `all files${missing ? ` (skipped: ${missing})` : ""}`,
    async () => {
      const files = [...new Set([...elfFiles(ROOTS), process.execPath])];
      const [expected, actual] = await Promise.all([readelfBuildIds(files), mapBounded(files, 16, ours)]);

      const mismatches: string[] = [];
      let withId = 0;
      files.forEach((file, i) => {
        if (!expected.has(file)) {
          mismatches.push(`${file}: readelf printed nothing for it`);
          return;
        }
        const want = expected.get(file);
        const got = actual[i];
        if (want !== undefined) withId++;
        if (got !== want) mismatches.push(`${file}: readelf ${want ?? "no build ID"}, ours ${got ?? "no build ID"}`);
      });
      console.log(
        `elf oracle: compared ${files.length} ELF files with readelf -n: ${withId} with a build ID, ${files.length - withId} without; ${mismatches.length} disagreements`,
      );
      expect(mismatches.slice(0, 20)).toEqual([]);
      expect(files.length).toBeGreaterThan(1);
    },
    SWEEP_TIMEOUT,
  );

  test("the in-memory reader agrees with the file reader (a deterministic sample)", async () => {
    const files = elfFiles(["/usr/bin", "/usr/lib/x86_64-linux-gnu"]).filter(
      (f, i) => i % 16 === 0 && statSync(f).size < 8 << 20,
    );
    const sample = [...files, process.execPath];
    for (const file of sample) {
      expect(
        outcome(() => readBuildId(readFileSync(file))),
        file,
      ).toBe(await ours(file));
    }
    console.log(`elf oracle: ${sample.length} files read both from bytes and from the file`);
  });
});
