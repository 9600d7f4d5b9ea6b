// Invariant 7 after an exit: a process mapped file F and exited; F was deleted and another file
// created at its path took F's inode number (the file system reused it, as after a package
// upgrade). The path now names a file with the maps' (device, inode), yet it is not F: the resolver
// must not confirm F through that path. A file whose ctime is later than the moment the mapping
// was first seen through /proc cannot be F (F's inode was live then), so the answer is unresolved.
// The file lives on a fresh ext4 image the test mounts, which hands a freed inode number to the next
// file made; without one (not root, no loop device), in os.tmpdir(), which may (a busy ext4) or may not
// (tmpfs) within its bound: the test then skips, saying so.
// The child's parent never reaps it: dead, it keeps its PID from every process the machine starts
// meanwhile, so the answers are about F's process and no other.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdtempSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, onTestFinished, test } from "vitest";
import type { Resolution } from "../../../src/node/resolver/answers.js";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { copyOntoInode, REUSE_TRIES, type ReuseFolder, reuseFolder } from "../../helpers/inode-reuse.js";
import { CHILD_DEADLINE_MS, rawMaps, readelfBuildId, SLEEP, spawnUnreaped } from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-reuse-"));
let reuse: ReuseFolder;
beforeAll(() => {
  reuse = reuseFolder(dir);
});
afterAll(() => {
  reuse?.remove();
  rmSync(dir, { recursive: true, force: true });
});
const OTHER = execFileSync(
  "readlink",
  ["-f", execFileSync("sh", ["-c", "command -v env"], { encoding: "utf8" }).trim()],
  {
    encoding: "utf8",
  },
).trim();
test(
  "an exited process's file is not confirmed through its path once another file took its inode number",
  async (ctx) => {
    const [sleepId, otherId] = [readelfBuildId(SLEEP), readelfBuildId(OTHER)];
    expect(sleepId).toBeTruthy();
    expect(otherId).toBeTruthy();
    expect(otherId).not.toBe(sleepId);
    const outcome = await exitAndReuse(join(reuse.dir, "prog"), sleepId!, otherId!);
    if (outcome !== "done") ctx.skip(outcome);
  },
  4 * CHILD_DEADLINE_MS,
);

/** The scenario with a new child at `path`: "done", or why it cannot run. */
async function exitAndReuse(path: string, sleepId: string, otherId: string): Promise<string> {
  rmSync(path, { force: true });
  copyFileSync(SLEEP, path);
  chmodSync(path, 0o755);
  const mapped = statSync(path, { bigint: true });
  // F's ctime well before the first read of the maps (the kernel stamps ctime from a clock a tick coarse).
  await new Promise((r) => setTimeout(r, 50));
  const child = await spawnUnreaped(path, ["infinity"], path);
  // A failed check must not leave it running: it would hold the image's file system past the unmount.
  onTestFinished(() => child.release());
  const pid = child.pid;
  const text = rawMaps(pid).find((m) => m.path === path && m.perms[2] === "x")!;
  let clock = 0;
  const resolver = await BuildIdResolver.create({ now: () => clock });
  const address = text.start + 16n;
  expect(await resolver.resolve(pid, address)).toMatchObject({ ok: true, buildId: sleepId, via: "map_files" });
  await child.kill();
  /** The answer 10 s on. */
  const later = async (): Promise<Resolution> => {
    clock += 10_000;
    const r = await resolver.resolve(pid, address);
    expect(r.ok && r.buildId, "the new file's build ID, served for the exited process's F").not.toBe(otherId);
    return r;
  };

  // Past the bounds the process is found gone and F checked by its path: still F, so F's build ID.
  const before = await later();
  expect(before).toMatchObject({ ok: true, buildId: sleepId, via: "path", path });

  unlinkSync(path);
  if (copyOntoInode(OTHER, path, mapped.ino, reuse.dir) === 0)
    return `${reuse.what} did not reuse inode ${mapped.ino} in ${REUSE_TRIES} files`;
  const now = statSync(path, { bigint: true });
  expect([now.dev, now.ino]).toEqual([mapped.dev, mapped.ino]);

  const r = await later();
  expect(r).toMatchObject({ ok: false, reason: "missing", path });
  expect(r.ok === false && r.detail).toMatch(
    /has the \(device, inode\) but its ctime .* is after .*, when the file was known live/,
  );
  // Never the new file's build ID, however often asked.
  const again = await later();
  expect(again).toMatchObject({ ok: false, reason: "missing" });
  expect(resolver.stats().replaced).toBe(0);
  return "done";
}
