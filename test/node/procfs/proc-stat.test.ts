import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  HeldProcStat,
  parseProcStat,
  readLiveProcess,
  readProcessIdentity,
  sameProcess,
  startedAfter,
  threadLives,
} from "../../../src/node/procfs/proc-stat.js";
import { killAndReap, SLEEP, spawnUnreaped } from "../live.js";

const openFds = () => readdirSync("/proc/self/fd").length;

describe("HeldProcStat against the kernel's /proc", () => {
  test("answers as a read by path, with one descriptor held per process; a process gone fails and lets it go", async () => {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    await once(child, "spawn");
    const pid = child.pid!;
    const held = new HeldProcStat();
    const before = openFds();
    const first = held.read(pid);
    expect(sameProcess(first, readProcessIdentity(pid))).toBe(true);
    expect(first.comm).toBe("sleep");
    for (let i = 0; i < 5; i++) expect(sameProcess(held.read(pid), first)).toBe(true);
    expect(held.size).toBe(1);
    expect(openFds()).toBe(before + 1);
    child.kill("SIGKILL");
    await once(child, "exit");
    let failure: unknown;
    try {
      held.read(pid);
    } catch (error) {
      failure = error;
    }
    // ESRCH from the held descriptor, then ENOENT from the path (unless another process took the pid).
    if (failure === undefined) expect(sameProcess(held.read(pid), first)).toBe(false);
    else expect(["ESRCH", "ENOENT"]).toContain((failure as NodeJS.ErrnoException).code);
    if (failure !== undefined) expect(held.size).toBe(0);
  });

  test("after exec, the held descriptor reads the new program", async () => {
    const child = spawn("sh", ["-c", "read line; exec sleep 60"], { stdio: ["pipe", "ignore", "ignore"] });
    await once(child, "spawn");
    const pid = child.pid!;
    try {
      const held = new HeldProcStat();
      const before = held.read(pid);
      expect(before.comm).toBe("sh");
      child.stdin!.write("go\n");
      let after = held.read(pid);
      for (let tries = 0; after.comm !== "sleep" && tries < 200; tries++) {
        await new Promise((r) => setTimeout(r, 50));
        after = held.read(pid);
      }
      expect(after.comm).toBe("sleep");
      expect(after.startTime).toBe(before.startTime);
      expect(sameProcess(after, before)).toBe(false);
      expect(held.size).toBe(1);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("under a procRoot that is not procfs nothing is held: a file replaced there is read afresh", () => {
    const root = mkdtempSync(join(tmpdir(), "held-stat-"));
    try {
      const stat = (start: number) =>
        `7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 ${start} 0 0 0 0 1 2 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 4 5 6 7 0\n`;
      const dir = join(root, "7");
      mkdirSync(dir);
      writeFileSync(join(dir, "stat"), stat(100));
      const held = new HeldProcStat(root);
      expect(held.read(7).startTime).toBe(100n);
      rmSync(join(dir, "stat"));
      writeFileSync(join(dir, "stat"), stat(200));
      expect(held.read(7).startTime).toBe(200n);
      expect(held.size).toBe(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("who holds a PID: an exited process not yet reaped, a process started since", () => {
  test("a zombie reads as exited; a line without a state is refused", async () => {
    const child = await spawnUnreaped(SLEEP, ["infinity"], SLEEP);
    try {
      expect(readProcessIdentity(child.pid).exited).toBe(false);
      await child.kill();
      expect(readProcessIdentity(child.pid).exited).toBe(true);
    } finally {
      await child.release();
    }
    expect(() => parseProcStat("7 (x) 1 7 7")).toThrow("stat has no start time (field 22)");
    expect(() => parseProcStat("7 (x) 9 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0")).toThrow(
      "stat has no state (field 3)",
    );
  });

  test("startedAfter tells a process started after a moment from one running then", async () => {
    const before = Date.now();
    await new Promise((r) => setTimeout(r, 100));
    const child = spawn(SLEEP, ["60"], { stdio: "ignore" });
    await once(child, "spawn");
    try {
      expect(startedAfter(readProcessIdentity(child.pid!), before)).toBe(true);
      expect(startedAfter(readProcessIdentity(process.pid), before)).toBe(false);
      expect(startedAfter(readProcessIdentity(child.pid!), Date.now())).toBe(false);
      // No uptime to compare with: never claimed.
      expect(startedAfter(readProcessIdentity(child.pid!), before, "/nonexistent-proc")).toBe(false);
    } finally {
      await killAndReap(child);
    }
  });
});

// Lines the kernel printed (6.18) for a program whose main thread called pthread_exit while one
// other thread ran: the leader's, and the other thread's (/proc/PID/task/TID/stat).
const ZOMBIE_LEADER =
  "4614 (z) Z 1 4604 4151 0 -1 4227084 124 0 1 0 0 0 0 0 20 0 2 0 1133942 0 0 18446744073709551615 0 0 0 0 0 0 0 6 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
const LIVE_THREAD =
  "4616 (z) S 1 4604 4151 0 -1 4194368 124 0 1 0 0 0 0 0 20 0 2 0 1133942 11063296 349 18446744073709551615 93840712818688 93840712819241 140725800410800 0 0 0 0 6 0 0 0 0 -1 0 0 0 0 0 0 93840712830416 93840712831048 93840852291584 140725800418037 140725800418049 140725800418049 140725800419316 0\n";

describe("a thread-group leader that exited while its other threads run", () => {
  test("stat: the state and the thread count (field 20) tell an exited process from a zombie leader with live threads", () => {
    const leader = parseProcStat(ZOMBIE_LEADER);
    expect(leader).toMatchObject({ dead: true, threads: 2, exited: false, startTime: 1133942n });
    // The leader's memory is gone: its layout reads as zeros (as when ptrace access is denied).
    expect(leader.layout).toBe("0 0 0 0 0 0 0");
    expect(parseProcStat(LIVE_THREAD)).toMatchObject({ dead: false, threads: 2, exited: false });
    // The last thread gone, the count is the leader's alone: the process has exited.
    const alone = parseProcStat(ZOMBIE_LEADER.replace(" 20 0 2 0 ", " 20 0 1 0 "));
    expect(alone).toMatchObject({ dead: true, threads: 1, exited: true });
    expect(parseProcStat(ZOMBIE_LEADER.replace(" Z ", " X "))).toMatchObject({ dead: true, exited: false });
    expect(() => parseProcStat("7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 x 0 100 0 0")).toThrow(
      "stat has no thread count (field 20)",
    );
  });

  test("readLiveProcess reads through the first live thread (the preferred first), threadLives tells it from a successor", () => {
    const root = mkdtempSync(join(tmpdir(), "live-process-"));
    try {
      const pid = 4614;
      const stat = (tid: number, text: string) => {
        const dir = tid === pid ? join(root, String(pid)) : join(root, String(pid), "task", String(tid));
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "stat"), text.replace(/^\d+/, String(tid)));
      };
      stat(pid, ZOMBIE_LEADER.replace(" 20 0 2 0 ", " 20 0 4 0 "));
      stat(4615, ZOMBIE_LEADER);
      stat(4616, LIVE_THREAD);
      const live = readLiveProcess(pid, root)!;
      // The leader's start time (who the process is) with the live thread's layout (what it runs).
      expect(live).toMatchObject({ tid: 4616, threadStart: 1133942n, identity: { startTime: 1133942n, comm: "z" } });
      expect(live.identity.layout).toBe(parseProcStat(LIVE_THREAD).layout);
      stat(4617, LIVE_THREAD.replace(" 1133942 ", " 1133950 "));
      expect(readLiveProcess(pid, root, { prefer: 4617 })).toMatchObject({ tid: 4617, threadStart: 1133950n });
      expect(readLiveProcess(pid, root, { skip: new Set([4616]) })).toMatchObject({ tid: 4617 });
      expect(readLiveProcess(pid, root, { skip: new Set([4616, 4617]) })).toBeUndefined();
      expect(threadLives(pid, live, root)).toBe(true);
      // Thread 4616 exits and a new thread takes its TID: not the one read through.
      stat(4616, LIVE_THREAD.replace(" 1133942 ", " 1133999 "));
      expect(threadLives(pid, live, root)).toBe(false);
      rmSync(join(root, String(pid), "task", "4616"), { recursive: true });
      expect(threadLives(pid, live, root)).toBe(false);
      expect(threadLives(pid, { tid: pid, threadStart: 0n }, root)).toBe(true);
      // A leader that runs is read itself; one alone in its group has exited, whatever task/ holds.
      stat(pid, LIVE_THREAD);
      expect(readLiveProcess(pid, root)).toMatchObject({ tid: pid });
      stat(pid, ZOMBIE_LEADER.replace(" 20 0 2 0 ", " 20 0 1 0 "));
      expect(readLiveProcess(pid, root)).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
