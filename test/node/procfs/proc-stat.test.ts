import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import {
  HeldProcStat,
  parseProcStat,
  readProcessIdentity,
  sameProcess,
  startedAfter,
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
