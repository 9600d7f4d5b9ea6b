// The converter against perf itself, on recordings made here by `perf record -e cpu-clock -g` (file and
// pipe mode, with and without --buildid-mmap, with -z): the build-ID list perf prints, perf report's
// samples per dso, and the file offset of every sample's IP in the dso perf gives it.
import { mkdtempSync, openAsBlob, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { dsoName } from "../../src/convert/build-ids.js";
import { listBuildIds } from "../../src/convert/buildid-list.js";
import { convertPerfData } from "../../src/convert/index.js";
import {
  decompressedCopy,
  perfBuildIdLines,
  perfLeafOffsets,
  perfSamplesPerDso,
  profileLeaves,
} from "../helpers/perf-answers.js";
import { LIGHT_WORKLOAD, perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";

const dir = mkdtempSync(join(tmpdir(), "convert-oracle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipping the converter's perf oracle tests: ${cannot}`);

const cases = [
  { name: "file mode", args: [], pipe: false },
  { name: "file mode, --buildid-mmap", args: ["--buildid-mmap"], pipe: false },
  { name: "pipe mode", args: [], pipe: true },
  { name: "pipe mode, --buildid-mmap", args: ["--buildid-mmap"], pipe: true },
  { name: "file mode, -z", args: ["-z"], pipe: false },
  { name: "pipe mode, -z, --buildid-mmap", args: ["-z", "--buildid-mmap"], pipe: true },
];

/** The kernel's text map is `[kernel.kallsyms]_text` in our profile, `[kernel.kallsyms]` in perf's answers. */
const asPerf = (path: string): string => dsoName(path, path.startsWith("[kernel.kallsyms]") ? -1 : 0);

describe.skipIf(cannot !== undefined)("perf record -e cpu-clock -g, converted, against perf's own answers", () => {
  test.each(cases)(
    "$name",
    async ({ name, args, pipe }) => {
      const file = join(dir, `${name.replace(/\W+/g, "-")}.data`);
      perfRecord(file, args, { pipe, workload: LIGHT_WORKLOAD });
      const bytes = new Uint8Array(readFileSync(file));

      // perf 6.1's buildid-list does not decompress pipe input (it prints nothing): ask it about the same records uncompressed.
      const listed = args.includes("-z") && pipe ? decompressedCopy(bytes, `${file}.decompressed`) : file;
      const perfIds = perfBuildIdLines(listed, true);
      for (const withHits of [false, true]) {
        const expected = withHits ? perfIds : perfBuildIdLines(listed, false);
        const fromBytes = await listBuildIds(bytes, { withHits });
        const fromBlob = await listBuildIds(await openAsBlob(file), { withHits });
        const text = (l: { buildId: string; name: string }) => `${l.buildId.padEnd(40)} ${l.name}`;
        expect(fromBytes.lines.map(text), `buildid-list${withHits ? " -H" : ""}`).toEqual(expected);
        expect(fromBlob.lines.map(text)).toEqual(expected);
        expect(expected.some((l) => l.endsWith(" [kernel.kallsyms]"))).toBe(true);
      }

      const { profile, summary } = await convertPerfData(bytes);
      const ours = profileLeaves(profile, asPerf);
      const perDso = perfSamplesPerDso(file);
      expect(Object.fromEntries(ours.files), "samples per dso").toEqual(Object.fromEntries(perDso));
      const offsets = perfLeafOffsets(file);
      expect(ours.offsets.size).toBeGreaterThan(10);
      expect(Object.fromEntries(ours.offsets), "samples per dso and file offset").toEqual(Object.fromEntries(offsets));
      const withIds = summary.files.filter((f) => f.buildId !== undefined).reduce((n, f) => n + f.samples, 0);
      expect(summary.samplesWithBuildId).toBe(withIds);
      for (const f of summary.files.filter((f) => f.samples > 0))
        expect(f.buildId, `${f.path}: ${f.reason}`).toBe(
          perfIds
            .find((l) => l.endsWith(` ${asPerf(f.path)}`))
            ?.slice(0, 40)
            .trim() || undefined,
        );
      console.log(
        `${name}: ${summary.samples} samples, ${ours.offsets.size} distinct leaf offsets in ${ours.files.size} dsos equal perf's`,
      );
    },
    600_000,
  );
});
