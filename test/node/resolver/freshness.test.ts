// The freshness model: who a held process is is re-checked once older than mapsMaxAgeMs (a new
// start time or exec layout in /proc/PID/stat re-reads the maps; an address outside every mapping
// re-reads them, once per bound), its maps and the files a call meets once older than
// fileMaxAgeMs, and within both bounds a sample makes no system call. The clock is the test's, so
// no bound depends on the machine's speed.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, test } from "vitest";
import { majorMinorOf } from "../../../src/node/identity.js";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { killAndReap, rawMaps, readelfBuildId, SLEEP } from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-fresh-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const LIBC = rawMaps(process.pid).find((m) => /\/libc\.so\.6$/.test(m.path))!.path;
const REMAP = join(dir, "remap");
execFileSync("cc", ["-O1", "-o", REMAP, new URL("../../fixtures/proc/remap.c", import.meta.url).pathname]);
// High in user space, far from anything the loader or the heap would place.
const AT = 0x1000_0000_0000n;

/** Starts the helper and returns it with a function that waits for its next line. */
function remap(mode: string, lib: string): { child: ChildProcess; next: () => Promise<string> } {
  const child = spawn(REMAP, [mode, lib, `0x${AT.toString(16)}`], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  return { child, next: async () => (await lines.next()).value as string };
}

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("a live process", () => {
  test("mmap(MAP_FIXED) of a library over anonymous memory is seen once the view is older than fileMaxAgeMs", async () => {
    const { child, next } = remap("remap", LIBC);
    try {
      expect(await next()).toBe("anon");
      const time = clock();
      const start = time.now();
      const resolver = await BuildIdResolver.create({ now: time.now, mapsMaxAgeMs: 100, fileMaxAgeMs: 1000 });
      expect(await resolver.resolve(child.pid!, AT)).toMatchObject({ ok: false, reason: "anonymous", ageMs: 0 });
      child.stdin!.write("go\n");
      expect(await next()).toBe("file");
      // An address in a known anonymous mapping is an answer, not a miss: no maps re-read, and the
      // answer says how old its view is.
      time.advance(999);
      expect(await resolver.resolve(child.pid!, AT)).toMatchObject({
        ok: false,
        reason: "anonymous",
        verifiedAt: start,
        ageMs: 999,
      });
      expect(resolver.stats()).toMatchObject({ mapsReads: 1, refreshes: 0 });
      time.advance(1);
      expect(await resolver.resolve(child.pid!, AT + 8n)).toMatchObject({
        ok: true,
        path: LIBC,
        buildId: readelfBuildId(LIBC),
        fileOffset: 8n,
        verifiedAt: start + 1000,
        ageMs: 0,
        via: "map_files",
      });
      expect(resolver.stats()).toMatchObject({ refreshes: 1, replaced: 0 });
    } finally {
      await killAndReap(child);
    }
  });

  test("an exec is caught on the bound without forget(), by the new layout in /proc/PID/stat", async () => {
    const { child, next } = remap("exec", LIBC);
    try {
      expect(await next()).toBe("anon");
      const time = clock();
      const resolver = await BuildIdResolver.create({ now: time.now });
      const before = rawMaps(child.pid!).find((m) => m.path === REMAP && m.perms[2] === "x")!;
      expect(await resolver.resolveMany(child.pid!, [AT, before.start])).toMatchObject([
        { ok: false, reason: "anonymous" },
        { ok: true, path: REMAP },
      ]);
      child.stdin!.write("go\n");
      expect(await next()).toBe("file");
      time.advance(100);
      const after = rawMaps(child.pid!).find((m) => m.path === REMAP && m.perms[2] === "x")!;
      expect(await resolver.resolve(child.pid!, AT)).toMatchObject({
        ok: true,
        path: LIBC,
        buildId: readelfBuildId(LIBC),
      });
      expect(await resolver.resolve(child.pid!, after.start)).toMatchObject({
        ok: true,
        path: REMAP,
        fileOffset: after.offset,
      });
      expect(resolver.stats()).toMatchObject({ refreshes: 1, replaced: 1 });
    } finally {
      await killAndReap(child);
    }
  });
});

describe("a fake procfs", () => {
  const root = join(dir, "proc");
  const pid = 4242;
  const proc = join(root, String(pid));
  const L1 = SLEEP;
  const L2 = "/usr/bin/env";
  const range = (start: bigint) => `${start.toString(16)}-${(start + 0x1000n).toString(16)}`;
  // A file mapping's name is `shown` (default its path): one that exists only in the process's mount namespace.
  const line = (start: bigint, path?: string, shown = path) => {
    if (path === undefined) return `${range(start)} rw-p 00000000 00:00 0`;
    const st = statSync(path, { bigint: true });
    const { major, minor } = majorMinorOf(st.dev);
    return `${range(start)} r-xp 00000000 ${major.toString(16).padStart(2, "0")}:${minor.toString(16).padStart(2, "0")} ${st.ino} ${shown}`;
  };
  const A = 0x400000n;
  const C = 0x800000n;
  function processOf(startTime: number, maps: [bigint, string | undefined, string?][]): void {
    rmSync(proc, { recursive: true, force: true });
    mkdirSync(join(proc, "map_files"), { recursive: true });
    writeFileSync(
      join(proc, "stat"),
      `${pid} (fake) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${startTime} 0 0\n`,
    );
    writeFileSync(join(proc, "maps"), `${maps.map(([s, p, shown]) => line(s, p, shown)).join("\n")}\n`);
    for (const [s, p] of maps) if (p) symlinkSync(p, join(proc, "map_files", range(s)));
  }

  test("PID reuse: a new start time replaces the held maps, before the files' own bound", async () => {
    processOf(100, [
      [A, L1],
      [C, undefined],
    ]);
    const time = clock();
    const resolver = await BuildIdResolver.create({ procRoot: root, now: time.now });
    expect(await resolver.resolveMany(pid, [A, C])).toMatchObject([
      { ok: true, buildId: readelfBuildId(L1) },
      { ok: false, reason: "anonymous" },
    ]);
    processOf(200, [
      [A, L2],
      [C, L1],
    ]);
    time.advance(150);
    expect(await resolver.resolve(pid, C)).toMatchObject({ ok: true, path: L1, buildId: readelfBuildId(L1) });
    // A's file was checked 150 ms ago (fileMaxAgeMs is 1000): the start time is what said it was stale.
    expect(await resolver.resolve(pid, A)).toMatchObject({ ok: true, path: L2, buildId: readelfBuildId(L2) });
    expect(resolver.stats()).toMatchObject({ refreshes: 1, replaced: 1 });
  });

  test("within both bounds a sample makes no system call: procfs can vanish and the answer stands", async () => {
    // Reachable only through map_files, as a file of another mount namespace is.
    processOf(100, [[A, L1, `/elsewhere${L1}`]]);
    const time = clock();
    const resolver = await BuildIdResolver.create({ procRoot: root, now: time.now });
    const first = await resolver.resolve(pid, A + 4n);
    expect(first).toMatchObject({ ok: true, cached: false, buildId: readelfBuildId(L1) });
    const counts = resolver.stats();
    rmSync(proc, { recursive: true, force: true });
    time.advance(99);
    expect(await resolver.resolveMany(pid, [A, A + 8n])).toMatchObject([
      { ok: true, cached: true, buildId: readelfBuildId(L1), fileOffset: 0n },
      { ok: true, cached: true, fileOffset: 8n },
    ]);
    const after = resolver.stats();
    expect([after.mapsReads, after.statReads, after.fileChecks]).toEqual([
      counts.mapsReads,
      counts.statReads,
      counts.fileChecks,
    ]);
    // Past the bound the vanished process is seen: its final maps still serve samples taken before.
    time.advance(1);
    expect(await resolver.resolve(pid, A)).toMatchObject({ ok: true, buildId: readelfBuildId(L1) });
    expect(resolver.stats().statReads).toBe(counts.statReads + 1);
    resolver.forget(pid);
    expect(await resolver.resolve(pid, A)).toMatchObject({ ok: false, reason: "exited" });
  });

  test("a file's check is redone past fileMaxAgeMs: a mapping whose file changed is re-read", async () => {
    processOf(100, [[A, L1]]);
    const time = clock();
    const resolver = await BuildIdResolver.create({ procRoot: root, now: time.now, mapsMaxAgeMs: 10_000 });
    expect(await resolver.resolve(pid, A)).toMatchObject({ ok: true, buildId: readelfBuildId(L1) });
    // Same start time and layout, but the mapping now holds another file (a dlclose and dlopen).
    processOf(100, [[A, L2]]);
    time.advance(999);
    expect(await resolver.resolve(pid, A)).toMatchObject({ ok: true, buildId: readelfBuildId(L1) });
    time.advance(1);
    expect(await resolver.resolve(pid, A)).toMatchObject({ ok: true, path: L2, buildId: readelfBuildId(L2) });
    expect(resolver.stats()).toMatchObject({ refreshes: 1, replaced: 0 });
  });
});
