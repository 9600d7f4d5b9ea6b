// Another program behind a PID, against the kernel: an exec in the same process, and a PID given to
// a new process (made to happen with /proc/sys/kernel/ns_last_pid). Within mapsMaxAgeMs an answer
// may still be the old program's, and says how old its view is (verifiedAt, ageMs, on the
// resolver's clock, here the test's); once the change is seen, no answer is the old program's.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import {
  canSetLastPid,
  killAndReap,
  LAST_PID,
  rawMaps,
  readelfBuildId,
  SLEEP,
  spawnMapping,
  spawnWithPid,
  waitFor,
} from "../live.js";

const DASH = "/usr/bin/dash";

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const text = (pid: number, path: string) => rawMaps(pid).find((m) => m.path === path && m.perms[2] === "x");

test("exec in the same process: the old program's answers carry their age; once seen, only the new program's", async () => {
  const child = await spawnMapping("/bin/sh", ["-c", `read line; exec ${SLEEP} infinity`], DASH);
  try {
    const time = clock();
    const start = time.now();
    const resolver = await BuildIdResolver.create({ now: time.now, mapsMaxAgeMs: 100 });
    const old = text(child.pid!, DASH)!;
    expect(await resolver.resolve(child.pid!, old.start)).toMatchObject({
      ok: true,
      buildId: readelfBuildId(DASH),
      verifiedAt: start,
      ageMs: 0,
    });
    child.stdin!.write("go\n");
    const now = await waitFor("the shell never exec'd sleep", () => text(child.pid!, SLEEP));
    // Within the bound the view from before the exec answers, and says it is 99 ms old.
    time.advance(99);
    expect(await resolver.resolve(child.pid!, old.start)).toMatchObject({
      ok: true,
      buildId: readelfBuildId(DASH),
      verifiedAt: start,
      ageMs: 99,
    });
    time.advance(1);
    const [atOld, atNew] = await resolver.resolveMany(child.pid!, [old.start, now.start + 16n]);
    expect(atOld!.ok && atOld!.buildId).not.toBe(readelfBuildId(DASH));
    expect(atOld).toMatchObject({ verifiedAt: start + 100 });
    expect(atNew).toMatchObject({
      ok: true,
      buildId: readelfBuildId(SLEEP),
      fileOffset: now.offset + 16n,
      verifiedAt: start + 100,
      ageMs: 0,
    });
    // The exec is seen for good: later calls never go back to the old program.
    for (let i = 0; i < 5; i++) {
      time.advance(250);
      const again = await resolver.resolve(child.pid!, old.start);
      expect(again.ok && again.buildId).not.toBe(readelfBuildId(DASH));
    }
    expect(resolver.stats()).toMatchObject({ replaced: 1 });
  } finally {
    await killAndReap(child);
  }
});

describe.skipIf(!canSetLastPid())("a PID reused by a new process", () => {
  test("answers within the bound carry the dead process's age; past it, only the new process's files", async () => {
    const first = await spawnMapping(SLEEP, ["infinity"], SLEEP);
    const pid = first.pid!;
    const time = clock();
    const start = time.now();
    const resolver = await BuildIdResolver.create({ now: time.now, mapsMaxAgeMs: 100 });
    const old = text(pid, SLEEP)!;
    expect(await resolver.resolve(pid, old.start)).toMatchObject({ ok: true, buildId: readelfBuildId(SLEEP) });
    await killAndReap(first);
    // A process started since, as on any machine: the last PID is past `pid`, and must be again once the reuse is staged.
    execFileSync("true");
    const lastPid = Number(readFileSync(LAST_PID, "utf8"));
    const second = await spawnWithPid(pid, DASH, ["-c", "read line"]);
    expect(Number(readFileSync(LAST_PID, "utf8")), "the last PID, put back").toBeGreaterThanOrEqual(lastPid);
    if (second === undefined) {
      console.info(`PID ${pid} was taken by other processes 50 times: the reuse could not be staged`);
      return;
    }
    try {
      const now = await waitFor("the new process never mapped dash", () => text(pid, DASH));
      time.advance(99);
      expect(await resolver.resolve(pid, old.start)).toMatchObject({
        ok: true,
        buildId: readelfBuildId(SLEEP),
        verifiedAt: start,
        ageMs: 99,
      });
      time.advance(1);
      const [atOld, atNew] = await resolver.resolveMany(pid, [old.start, now.start]);
      expect(atOld!.ok && atOld!.buildId).not.toBe(readelfBuildId(SLEEP));
      expect(atNew).toMatchObject({ ok: true, buildId: readelfBuildId(DASH), verifiedAt: start + 100 });
      expect(resolver.stats()).toMatchObject({ replaced: 1 });
    } finally {
      await killAndReap(second);
    }
  });
});
