// A recording up to WHOLE_READ_BYTES is read whole, a larger one as a Blob through its checked
// descriptor, and for the commands that read every record in chunks through one reused buffer
// (openPerfChunks): the converter and buildid-list give the same answers from each, on perf's recordings.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { listBuildIds } from "../../src/convert/buildid-list.js";
import { convertPerfData } from "../../src/convert/convert.js";
import { openPerfChunks, openPerfInput } from "../../src/node/perf-input.js";
import { NotRegularFileError } from "../../src/node/safe-open.js";
import { perfCannotRecord, perfRecord } from "../helpers/perf-tools.js";

const dir = mkdtempSync(join(tmpdir(), "perf-input-"));
const cannot = perfCannotRecord(dir);
if (cannot) console.log(`skipped: ${cannot}`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const json = (value: unknown) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? String(v) : v));

describe.skipIf(cannot !== undefined)("openPerfInput", () => {
  test("reads a small recording whole, a larger one as a Blob, and one in reused chunks, with the same answers (file, pipe and -z)", async () => {
    for (const [name, args, pipe] of [
      ["file", [], false],
      ["pipe", [], true],
      ["z", ["-z"], false],
    ] as const) {
      const file = join(dir, `${name}.data`);
      perfRecord(file, [...args], { pipe });
      const answers = [];
      for (const whole of [undefined, 0, "chunks"] as const) {
        const open = () => (whole === "chunks" ? openPerfChunks(file) : openPerfInput(file, "/proc", whole));
        const list = await open();
        const pprof = await open();
        try {
          expect(list.source instanceof Uint8Array, name).toBe(whole === undefined);
          const { profile, summary } = await convertPerfData(pprof.source);
          answers.push({
            lines: json((await listBuildIds(list.source, { withHits: true })).lines),
            profile,
            summary: json(summary),
          });
        } finally {
          await list.close();
          await pprof.close();
        }
      }
      expect(answers[0]!.summary, name).toContain('"samples"');
      expect(answers[1], name).toEqual(answers[0]);
      expect(answers[2], name).toEqual(answers[0]);
    }
  }, 300_000);

  test("refuses a directory, as before, by its kind", async () => {
    await expect(openPerfInput(dir)).rejects.toThrow(NotRegularFileError);
    await expect(openPerfInput(dir, "/proc", 0)).rejects.toThrow(NotRegularFileError);
  });
});

test("refuses a FIFO without waiting for a writer, and says to give - instead", async () => {
  const fifo = join(dir, "fifo");
  execFileSync("mkfifo", [fifo]);
  const hint = `${fifo} is a FIFO, not a regular file: to read a pipe, give - and send it to standard input`;
  for (const open of [() => openPerfInput(fifo), () => openPerfInput(fifo, "/proc", 0), () => openPerfChunks(fifo)]) {
    const error = await open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotRegularFileError);
    expect((error as Error).message).toContain(hint);
  }
});
