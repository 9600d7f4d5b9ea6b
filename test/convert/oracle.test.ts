// The converter against perf itself, on recordings made here by `perf record -e cpu-clock -g` (file and
// pipe mode, with and without --buildid-mmap, with -z): the build-ID list perf prints, perf report's
// samples per dso, and the file offset of every sample's IP in the dso perf gives it.
import { mkdtempSync, openAsBlob, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { dsoName } from "../../src/convert/build-ids.js";
import { listBuildIds } from "../../src/convert/buildid-list.js";
import { convertPerfData } from "../../src/convert/index.js";
import { RecordType, readPerfData } from "../../src/perf/index.js";
import { perfBuildIdLines, perfLeafOffsets, perfSamplesPerDso, profileLeaves } from "../helpers/perf-answers.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";

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

/** The pipe-mode recording `bytes` with its COMPRESSED records replaced by the records inside them, written beside `file`. */
function decompressedCopy(bytes: Uint8Array, file: string): string {
  const parts: Uint8Array[] = [bytes.subarray(0, 16)];
  for (const raw of readPerfData(bytes).rawRecords()) {
    if (raw.type === RecordType.COMPRESSED || raw.type === RecordType.COMPRESSED2) continue;
    const header = new Uint8Array(8);
    const view = new DataView(header.buffer);
    view.setUint32(0, raw.type, true);
    view.setUint16(4, raw.misc, true);
    view.setUint16(6, raw.size, true);
    parts.push(header, raw.body.slice());
  }
  const out = `${file}.decompressed`;
  writeFileSync(out, Buffer.concat(parts));
  return out;
}

/** The kernel's text map is `[kernel.kallsyms]_text` in our profile, `[kernel.kallsyms]` in perf's answers. */
const asPerf = (path: string): string => dsoName(path, path.startsWith("[kernel.kallsyms]") ? -1 : 0);

describe.skipIf(cannot !== undefined)("perf record -e cpu-clock -g, converted, against perf's own answers", () => {
  test.each(cases)(
    "$name",
    async ({ name, args, pipe }) => {
      const file = join(dir, `${name.replace(/\W+/g, "-")}.data`);
      perfRecord(file, args, { pipe });
      const bytes = new Uint8Array(readFileSync(file));

      // perf 6.1's buildid-list does not decompress pipe input (it prints nothing): ask it about the same records uncompressed.
      const listed = args.includes("-z") && pipe ? decompressedCopy(bytes, file) : file;
      for (const withHits of [false, true]) {
        const expected = perfBuildIdLines(listed, withHits);
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
      const perfIds = perfBuildIdLines(listed, true);
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
