// Invariant 1 for files a recording mapped: a pipe recording without --buildid-mmap names its
// program only by path and (device, inode). The program is then deleted and another file made at
// its path until the file system hands it the same inode number. That file must not be served as
// the recorded one: with the moment the recording began (record's), its ctime is after it; with no
// such moment (a recording read later), nothing proves it, so the answer is unresolved unless
// --trust-paths accepts the reuse. ext4 reuses a freed number in the folder's group at once; tmpfs
// never does: the test then skips, saying so (BIC_REUSE_TRIES bounds the files it makes).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { convertPerfData } from "../../src/convert/convert.js";
import { recordedFileReader } from "../../src/node/recorded-files.js";
import { BuildIdResolver } from "../../src/node/resolver/resolver.js";
import { bundleCli, runCli } from "../helpers/cli.js";
import { compileTwoPrograms, REUSE_TRIES, readelfBuildId, replaceOnItsInode } from "../helpers/inode-reuse.js";
import { perfCannotRecord } from "../helpers/perf-tools.js";

// Not /tmp/perf-*: perf reads those as JIT symbol maps.
const dir = mkdtempSync(join(tmpdir(), "bic-recorded-reuse-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cannot = perfCannotRecord(dir) ?? (spawnSync("gcc", ["--version"]).status === 0 ? undefined : "no gcc");
if (cannot) console.log(`skipping the recorded-file reuse test: ${cannot}`);

const prog = join(dir, "prog");
const other = join(dir, "other.bin");
let cli: string;
beforeAll(async () => {
  cli = await bundleCli(dir);
  if (cannot !== undefined) return;
  compileTwoPrograms(dir, prog, other);
}, 120_000);

describe.skipIf(cannot !== undefined)("a file that took a recorded file's inode number", () => {
  test("is not served as the recorded file: pprof answers it unresolved, with the reason", async (ctx) => {
    const [progId, otherId] = [readelfBuildId(prog), readelfBuildId(other)];
    expect(progId).toBeTruthy();
    expect(otherId).not.toBe(progId);
    // The program's ctime well before the recording begins (ctime is stamped from a coarse clock).
    await new Promise((r) => setTimeout(r, 50));
    const data = join(dir, "pipe.data");
    const recordedSince = Date.now();
    const perf = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "5000", "-o", "-", "--", prog, "30000000"];
    const r = spawnSync("sh", ["-c", `exec "$@" > '${data}'`, "sh", ...perf], { cwd: dir, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const bytes = new Uint8Array(readFileSync(data));
    const progOf = async (options: Parameters<typeof recordedFileReader>[1]) => {
      const resolver = await BuildIdResolver.create();
      const { summary } = await convertPerfData(bytes, { readBuildId: recordedFileReader(resolver, options) });
      const file = summary.files.find((f) => f.path === prog);
      expect(file?.samples, JSON.stringify(summary.files)).toBeGreaterThan(0);
      return file!;
    };
    const pprof = async (...args: string[]) => {
      const run = await runCli(cli, ["pprof", data, "-o", join(dir, "out.pb.gz"), "--json", ...args], {
        timeoutMs: 300_000,
      });
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout).files.find((f: { path: string }) => f.path === prog);
    };

    // Before the reuse: proven by the moment the recording began.
    expect(await progOf({ recordedSince })).toMatchObject({ buildId: progId, source: "read" });

    const { ino, made } = replaceOnItsInode(other, prog, dir);
    if (made === 0) {
      ctx.skip(`${dir} did not reuse inode ${ino} in ${REUSE_TRIES} files`);
      return;
    }
    console.log(`inode ${ino} reused by file ${made} made at the path`);
    expect(readelfBuildId(prog)).toBe(otherId);
    const proven = await progOf({ recordedSince });
    expect(proven.buildId, "the new file's build ID, served for the recorded program").toBeUndefined();
    expect(proven.reason).toMatch(
      /has the \(device, inode\) but its ctime .* is after .*, when the file was known live/,
    );
    const read = await pprof();
    expect(read.buildId, "the new file's build ID, served for the recorded program").toBeUndefined();
    expect(read.reason).toMatch(/no time to prove the file at .* is the one recorded/);
    // The opt-in accepts exactly this: its documented cost.
    expect(await pprof("--trust-paths")).toMatchObject({ buildId: otherId });
  }, 600_000);
});
