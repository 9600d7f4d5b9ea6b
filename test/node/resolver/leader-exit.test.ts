// A process whose main thread exits (pthread_exit) while its other threads run: the kernel shows
// the leader a zombie and /proc/PID/maps empty, though the process lives and its address space is
// whole in /proc/PID/task/TID/maps. The resolver must answer for it through a live thread (the next
// one when that one exits), and "exited" only once the whole group is gone. Libraries built here,
// with build IDs from readelf; the program's states are waited for, never slept on.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { majorMinorOf } from "../../../src/node/identity.js";
import { HeldProcStat } from "../../../src/node/procfs/proc-stat.js";
import { BuildIdResolver } from "../../../src/node/resolver/resolver.js";
import { rawMaps, readelfBuildId, spawnUnreaped, type Unreaped, waitFor } from "../live.js";

const dir = mkdtempSync(join(tmpdir(), "bic-leader-exit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const LIB = join(dir, "liblead.so");
const LATE = join(dir, "liblate.so");
execFileSync("cc", ["-shared", "-fPIC", "-o", LIB, "-x", "c", "-"], { input: "int lead(int x) { return x + 1; }\n" });
execFileSync("cc", ["-shared", "-fPIC", "-o", LATE, "-x", "c", "-"], { input: "int late(int x) { return x * 3; }\n" });
const PROGRAM = join(dir, "leader-exit");
execFileSync("cc", [
  "-O1",
  "-pthread",
  "-o",
  PROGRAM,
  new URL("../../fixtures/proc/leader-exit.c", import.meta.url).pathname,
  "-ldl",
]);

/** `/proc/PID/status` as the test reads it: the state letter and the thread count. */
function status(pid: number): { state: string; threads: number } {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return { state: /^State:\s+(\S)/m.exec(text)![1]!, threads: Number(/^Threads:\s+(\d+)/m.exec(text)![1]) };
}

/** The threads of `pid` other than its leader, in the order they started. */
function workers(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`)
    .map(Number)
    .filter((tid) => tid !== pid)
    .sort((a, b) => a - b);
}

/** An address in the code `path` maps in `pid`, from the maps of thread `tid`. */
function codeOf(pid: number, path: string, tid = pid): bigint | undefined {
  const code = rawMaps(pid, tid).find((m) => m.path === path && m.perms[2] === "x");
  return code === undefined ? undefined : code.start + 0x10n;
}

/** Ends the program's next thread (the leader first) and waits until the kernel shows it ended. */
async function endNext(child: Unreaped): Promise<void> {
  const before = status(child.pid);
  child.input!.write("\n");
  await waitFor(`the next thread of ${child.pid} never ended`, () => {
    const now = status(child.pid);
    return (before.state === "Z" ? now.threads < before.threads : now.state === "Z") || undefined;
  });
}

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("a process whose leader exited is answered through a live thread, then the next; exited once all are gone", async () => {
  const child = await spawnUnreaped(PROGRAM, [LIB, "2"], LIB, { input: true });
  const pid = child.pid;
  try {
    const address = codeOf(pid, LIB)!;
    const threads = workers(pid);
    expect(threads).toHaveLength(2);
    await endNext(child);
    // What the kernel shows: a zombie leader, empty maps, the address space whole in a thread's.
    expect(status(pid)).toEqual({ state: "Z", threads: 3 });
    expect(readFileSync(`/proc/${pid}/maps`, "utf8")).toBe("");
    expect(codeOf(pid, LIB, threads[0])).toBe(address);

    const first = await BuildIdResolver.create();
    expect(await first.resolve(pid, address)).toMatchObject({ ok: true, path: LIB, buildId: readelfBuildId(LIB) });
    const line = (await first.resolveMany(pid, [address]))[0]!;
    expect(line.ok && (await first.resolveMapping(pid, line.mapping))).toMatchObject({
      ok: true,
      buildId: readelfBuildId(LIB),
    });

    // The thread read through ends: the next one is read through. A descriptor held on its stat fails.
    const stat = new HeldProcStat();
    expect(stat.read(pid, threads[0]).dead).toBe(false);
    await endNext(child);
    expect(existsSync(`/proc/${pid}/task/${threads[0]}`)).toBe(false);
    expect(() => stat.read(pid, threads[0])).toThrow(/ENOENT|ESRCH/);
    const time = clock();
    const second = await BuildIdResolver.create({ now: time.now });
    expect(await second.resolve(pid, address)).toMatchObject({ ok: true, buildId: readelfBuildId(LIB) });
    time.advance(1000);
    expect(await first.resolve(pid, address)).toMatchObject({ ok: true, buildId: readelfBuildId(LIB) });

    // The last thread ends: the process has exited, its leader not yet reaped.
    await endNext(child);
    expect(status(pid)).toEqual({ state: "Z", threads: 1 });
    expect(await (await BuildIdResolver.create()).resolve(pid, address)).toMatchObject({
      ok: false,
      reason: "exited",
    });
    time.advance(1000);
    // The held view, final now, answers for samples taken before the exit: its file by path, at once.
    const refreshes = second.stats().refreshes;
    expect(await second.resolve(pid, address)).toMatchObject({ ok: true, via: "path", buildId: readelfBuildId(LIB) });
    expect(second.stats().refreshes).toBe(refreshes);
  } finally {
    await child.release();
  }
  expect(await (await BuildIdResolver.create()).resolve(pid, 0x1000n)).toMatchObject({ ok: false, reason: "exited" });
});

test("a resolver that held the process before its leader exited keeps a live view: a library loaded after is answered", async () => {
  const child = await spawnUnreaped(PROGRAM, [LIB, "1", LATE], LIB, { input: true });
  const pid = child.pid;
  try {
    const address = codeOf(pid, LIB)!;
    const time = clock();
    const resolver = await BuildIdResolver.create({ now: time.now });
    expect(await resolver.resolve(pid, address)).toMatchObject({ ok: true, buildId: readelfBuildId(LIB) });
    const [thread] = workers(pid);
    await endNext(child);
    const late = await waitFor(`${LATE} never mapped`, () => codeOf(pid, LATE, thread));
    expect(status(pid).state).toBe("Z");

    time.advance(1000);
    const reads = resolver.stats().mapsReads;
    const [lead, loaded] = await resolver.resolveMany(pid, [address, late]);
    expect(lead).toMatchObject({ ok: true, path: LIB, buildId: readelfBuildId(LIB), verifiedAt: time.now() });
    expect(loaded).toMatchObject({ ok: true, path: LATE, buildId: readelfBuildId(LATE), verifiedAt: time.now() });
    expect(resolver.stats().mapsReads).toBeGreaterThan(reads);
  } finally {
    await child.release();
  }
});

describe("a fake procfs: a thread that exits between its stat and its maps", () => {
  const root = join(dir, "proc");
  const pid = 4242;
  const AT = 0x400000n;
  const range = `${AT.toString(16)}-${(AT + 0x1000n).toString(16)}`;
  const st = statSync(LIB, { bigint: true });
  const { major, minor } = majorMinorOf(st.dev);
  const maps = `${range} r-xp 00000000 ${major.toString(16)}:${minor.toString(16)} ${st.ino} ${LIB}\n`;
  const stat = (tid: number, state: string, threads: number) =>
    `${tid} (fake) ${state} 1 ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 ${threads} 0 100 0 0\n`;
  /** The zombie leader, its group counting `threads` threads. */
  function leader(threads: number): void {
    mkdirSync(join(root, String(pid), "task"), { recursive: true });
    writeFileSync(join(root, String(pid), "stat"), stat(pid, "Z", threads));
    writeFileSync(join(root, String(pid), "maps"), "");
  }
  /** Thread `tid` in `state`, `text` its maps (none: gone), its map_files/ under /TID. */
  function thread(tid: number, state: string, text: string | undefined): void {
    const task = join(root, String(pid), "task", String(tid));
    mkdirSync(task, { recursive: true });
    writeFileSync(join(task, "stat"), stat(tid, state, 0));
    rmSync(join(task, "maps"), { force: true });
    if (text !== undefined) writeFileSync(join(task, "maps"), text);
    const links = join(root, String(tid), "map_files");
    mkdirSync(links, { recursive: true });
    rmSync(join(links, range), { force: true });
    symlinkSync(LIB, join(links, range));
  }

  test("the next live thread is read through; none left with memory, the process has exited", async () => {
    rmSync(root, { recursive: true, force: true });
    leader(2);
    thread(4243, "S", maps);
    const time = clock();
    const resolver = await BuildIdResolver.create({ procRoot: root, now: time.now });
    expect(await resolver.resolve(pid, AT)).toMatchObject({ ok: true, buildId: readelfBuildId(LIB) });
    // 4243 still reads as running, but its maps are gone (it was reaped after its stat was read); 4244 runs.
    leader(3);
    thread(4243, "S", undefined);
    thread(4244, "S", maps);
    time.advance(1000);
    const reads = resolver.stats().mapsReads;
    expect(await resolver.resolve(pid, AT)).toMatchObject({
      ok: true,
      buildId: readelfBuildId(LIB),
      verifiedAt: time.now(),
    });
    expect(resolver.stats().mapsReads).toBe(reads + 2);
    // 4244's maps read empty (its memory let go on its way out): no thread is left to read through.
    thread(4244, "S", "");
    expect(await (await BuildIdResolver.create({ procRoot: root })).resolve(pid, AT)).toMatchObject({
      ok: false,
      reason: "exited",
    });
    // A leader that is alone in its group has exited, whatever task/ holds.
    leader(1);
    thread(4244, "S", maps);
    expect(await (await BuildIdResolver.create({ procRoot: root })).resolve(pid, AT)).toMatchObject({
      ok: false,
      reason: "exited",
    });
  });
});
