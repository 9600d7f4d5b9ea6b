// A saved recording made with `perf record -k` says when it began (CLOCK_DATA's reference moment, read
// before perf opens any event or reads any maps), so `pprof` of it can prove a file at a mapping's path
// is the one recorded as `record` does: same (device, inode), ctime before that moment. Recordings with
// no build ID for the program (pipe mode; file mode with -B), read later by the CLI:
// - the program unchanged: its build ID, read from the file (the old code left it unresolved, CV7);
// - the program deleted and another file made at its path with its inode number (ext4 hands a freed
//   number out again): unresolved with the ctime reason, with --trust-paths too (the old code, asked
//   with --trust-paths, answered the new file's build ID for the recorded program).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bundleCli, runCli } from "../helpers/cli.js";
import { compileTwoPrograms, REUSE_TRIES, readelfBuildId, replaceOnItsInode } from "../helpers/inode-reuse.js";
import { perfCannotRecord } from "../helpers/perf-tools.js";

// Not /tmp/perf-*: perf reads those as JIT symbol maps.
const dir = mkdtempSync(join(tmpdir(), "bic-clock-reuse-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir) ?? (spawnSync("gcc", ["--version"]).status === 0 ? undefined : "no gcc");
if (cannot) console.log(`skipping the -k recording reuse test: ${cannot}`);

const prog = join(dir, "prog");
const other = join(dir, "other.bin");
const recordings = {
  "pipe mode, -k mono": join(dir, "pipe.data"),
  "file mode, -k realtime -B": join(dir, "file.data"),
};
let cli: string;
let progId: string | undefined;
let otherId: string | undefined;

interface FileAnswer {
  path: string;
  buildId?: string;
  source?: string;
  reason?: string;
  samples: number;
}

async function pprofOf(data: string, ...args: string[]): Promise<FileAnswer> {
  const run = await runCli(cli, ["pprof", data, "-o", join(dir, "out.pb.gz"), "--json", ...args], {
    timeoutMs: 300_000,
  });
  expect(run.code, run.stderr).toBe(0);
  const files: FileAnswer[] = JSON.parse(run.stdout).files;
  const file = files.find((f) => f.path === prog);
  expect(file?.samples, JSON.stringify(files)).toBeGreaterThan(0);
  return file!;
}

beforeAll(async () => {
  cli = await bundleCli(dir);
  if (cannot !== undefined) return;
  compileTwoPrograms(dir, prog, other);
  [progId, otherId] = [readelfBuildId(prog), readelfBuildId(other)];
  // The program's ctime well before perf's reference moment (ctime is stamped from a coarse clock).
  await new Promise((r) => setTimeout(r, 50));
  const base = ["record", "-q", "-e", "cpu-clock", "-F", "5000"];
  const pipe = ["perf", ...base, "-k", "mono", "-o", "-", "--", prog, "30000000"];
  const r = spawnSync("sh", ["-c", `exec "$@" > '${recordings["pipe mode, -k mono"]}'`, "sh", ...pipe], {
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  const file = [...base, "-k", "realtime", "-B", "-o", recordings["file mode, -k realtime -B"], "--", prog, "30000000"];
  const f = spawnSync("perf", file, { encoding: "utf8" });
  expect(f.status, f.stderr).toBe(0);
}, 300_000);

describe.skipIf(cannot !== undefined)("pprof of a saved perf record -k recording", () => {
  test("proves the unchanged program by the recording's start: its build ID, read from the file", async () => {
    expect(progId).toBeTruthy();
    for (const [what, data] of Object.entries(recordings))
      expect(await pprofOf(data), what).toMatchObject({ buildId: progId, source: "read" });
  });

  test("a file that took the program's inode number since is unresolved, --trust-paths or not", async (ctx) => {
    expect(otherId).not.toBe(progId);
    const { ino, made } = replaceOnItsInode(other, prog, dir);
    if (made === 0) {
      ctx.skip(`${dir} did not reuse inode ${ino} in ${REUSE_TRIES} files`);
      return;
    }
    console.log(`inode ${ino} reused by file ${made} made at the path`);
    expect(readelfBuildId(prog)).toBe(otherId);
    for (const [what, data] of Object.entries(recordings))
      for (const args of [["--trust-paths"], []]) {
        const answer = await pprofOf(data, ...args);
        expect(
          answer.buildId,
          `${what} ${args}: the new file's build ID, served for the recorded program`,
        ).toBeUndefined();
        expect(answer.reason).toMatch(
          /has the \(device, inode\) but its ctime .* is after .*, when the file was known live/,
        );
      }
  });
});
