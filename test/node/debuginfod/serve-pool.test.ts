// serve -j N as processes on 127.0.0.1: requests answered by several serving processes at once with
// /metrics summing them, no counter of /metrics going down when a serving process is late to report
// (SIGSTOPped) or killed and replaced, a serving process killed mid-service replaced while the others answer, the
// pool's members gone with the primary (SIGTERM, or SIGKILL) and nothing left listening, a groom on
// SIGUSR2 and a rescan on SIGUSR1 seen by every serving process, and without --index too. A serving
// process is told from another by its PID and start time: a replacement may be given a dead one's PID.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import parse from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleCli, type CliRun, runCli } from "../../helpers/cli.js";
import { canSetLastPid, LAST_PID } from "../live.js";
import { makeTree, type Tree } from "./fixtures.js";
import { refused } from "./http.js";

const WAIT_MS = 60_000; // room for a loaded 2-core machine

let tree: Tree;
let cli: string;
beforeAll(async () => {
  tree = makeTree();
  cli = await bundleCli(join(tree.dir, "bundle"));
});
afterAll(() => rmSync(tree.dir, { recursive: true, force: true }));

/** A request on a connection of its own (no keep-alive), so the primary hands each to a serving process in turn. */
function fresh(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    }).on("error", reject);
  });
}

/** Requests received by each process, from /metrics, by pid. */
async function perProcess(url: string): Promise<Map<number, number>> {
  return perProcessIn((await fresh(`${url}/metrics`)).body.toString("utf8"));
}

function perProcessIn(text: string): Map<number, number> {
  return new Map(
    [...text.matchAll(/^serving_process_requests_total\{pid="(\d+)"\} (\d+)$/gm)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]),
  );
}

const metric = async (url: string, name: string): Promise<number> =>
  valueIn((await fresh(`${url}/metrics`)).body.toString("utf8"), name);

const valueIn = (text: string, name: string): number =>
  Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? Number.NaN);

/** /metrics as made once all `processes` reported: one late by 2 s is left out of that answer (20 hits of 30 at load 30). */
async function reported(url: string, processes: number): Promise<string> {
  let text = "";
  await until(`/metrics from ${processes} processes`, async () => {
    text = (await fresh(`${url}/metrics`)).body.toString("utf8");
    return valueIn(text, "serving_processes") === processes;
  });
  return text;
}

/** Every counter's samples on a /metrics page, by name and labels. */
function countersIn(text: string): Map<string, number> {
  return new Map(
    parse(text)
      .filter((f) => f.type === "COUNTER")
      .flatMap((f) => f.metrics.map((m) => [`${f.name}${JSON.stringify(m.labels ?? {})}`, Number(m.value)] as const)),
  );
}

/**
 * The counters of page `earlier` lower or missing on page `later`; a process that is gone takes only
 * its own per-process series, and those of the PIDs in `given` (gone, their PID another's since) restart.
 */
function wentDown(earlier: string, later: string, given: number[] = []): string[] {
  const after = countersIn(later);
  return [...countersIn(earlier)]
    .filter(([series, value]) => {
      if (given.some((pid) => series.includes(`"pid":"${pid}"`))) return false;
      const now = after.get(series);
      return now === undefined ? !series.includes('"pid":') : now < value;
    })
    .map(([series, value]) => `${series} ${value} -> ${after.get(series)}`);
}

/** Serves 10 hits on fresh connections between two pages every process reported to; returns the later page and the serving process that received the most requests. */
async function hitsServed(s: Served, id: string): Promise<{ page: string; busiest: number }> {
  const baseline = await reported(s.url, 3);
  const answers = await Promise.all(Array.from({ length: 10 }, () => fresh(`${s.url}/buildid/${id}/executable`)));
  for (const a of answers) expect(a.status).toBe(200);
  const page = await reported(s.url, 3);
  expect(valueIn(page, "buildid_hits_total") - valueIn(baseline, "buildid_hits_total")).toBe(10);
  const [before, after] = [perProcessIn(baseline), perProcessIn(page)];
  const [busiest] = [...after.keys()]
    .filter((pid) => pid !== s.child.pid)
    .map((pid) => [pid, after.get(pid)! - (before.get(pid) ?? 0)] as const)
    .sort((a, b) => b[1] - a[1])[0]!;
  // Handed in turn, 5 of the 10 each: the busiest has served hits.
  expect(after.get(busiest)! - before.get(busiest)!).toBeGreaterThanOrEqual(5);
  return { page, busiest };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not in ${WAIT_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** State, parent and start time (fields 3, 4 and 22 of /proc/PID/stat), or undefined once the PID is free. */
function stateOf(pid: number): { state: string; ppid: number; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, ppid: Number(fields[1]), start: fields[19]! };
  } catch {
    return undefined;
  }
}

/** A process as /proc tells it from any other that has or had its PID. */
interface Proc {
  pid: number;
  start: string;
}

const same = (a: Proc) => (b: Proc) => a.pid === b.pid && a.start === b.start;

/** The serving processes on `url`'s /metrics that run as children of `primary`, each with its start time. */
async function membersOf(url: string, primary: number): Promise<Proc[]> {
  return [...(await perProcess(url)).keys()].flatMap((pid) => {
    const now = stateOf(pid);
    return pid !== primary && now !== undefined && now.state !== "Z" && now.ppid === primary
      ? [{ pid, start: now.start }]
      : [];
  });
}

/** A check that `victim` was replaced: `processes` serving processes run, `kept` among them, `victim` not (whatever PID the new one was given). */
function replaced(s: Served, victim: Proc, kept: Proc[], processes: number): () => Promise<boolean> {
  return async () => {
    const members = await membersOf(s.url, s.child.pid!);
    return members.length === processes && !members.some(same(victim)) && kept.every((k) => members.some(same(k)));
  };
}

// The pool's: a serving process killed younger is replaced only after a pause.
const YOUNG_MS = 5000;

/** How long ago process `pid` started, by the boot clock. */
function ageMs(pid: number): number {
  const uptime = Number.parseFloat(readFileSync("/proc/uptime", "utf8"));
  return uptime * 1000 - Number(stateOf(pid)?.start ?? Number.POSITIVE_INFINITY) * 10;
}

/** How often serve reported that serving process `pid` was killed and another started. */
const deathsOf = (s: Served, pid: number): number =>
  s.stderr().split(`serving process ${pid} exited (signal SIGKILL); starting another`).length - 1;

/**
 * SIGKILLs `victim`, a serving process of `s`, holding the PID namespace's last PID just below its
 * PID until the primary has started another: that one takes the victim's PID unless another
 * process on the machine forked first. Returns the new one's PID. Root only ({@link canSetLastPid}).
 */
async function killGivingPid(s: Served, victim: Proc): Promise<number> {
  const children = `/proc/${s.child.pid}/task/${s.child.pid}/children`;
  const before = new Set(readFileSync(children, "utf8").split(" ").filter(Boolean).map(Number));
  const last = Number(readFileSync(LAST_PID, "utf8"));
  const deadline = Date.now() + WAIT_MS;
  process.kill(victim.pid, "SIGKILL");
  try {
    for (;;) {
      writeFileSync(LAST_PID, String(victim.pid - 1));
      const now = stateOf(victim.pid);
      if (now !== undefined && now.ppid === s.child.pid && now.start !== victim.start) return victim.pid;
      const born = readFileSync(children, "utf8").split(" ").filter(Boolean).map(Number);
      const other = born.find((pid) => !before.has(pid));
      if (other !== undefined) return other;
      if (Date.now() > deadline) throw new Error(`no serving process replaced ${victim.pid} in ${WAIT_MS} ms`);
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    // Left low, the machine's next processes would take numbers freed above it (see spawnWithPid).
    writeFileSync(LAST_PID, String(Math.max(last, Number(readFileSync(LAST_PID, "utf8")))));
  }
}

/** A check that each of `pids`, as they are now, has exited: gone, a zombie nobody reaped yet, or its PID another process's since. */
function allExited(pids: number[]): () => Promise<boolean> {
  const starts = pids.map((pid) => stateOf(pid)?.start);
  return async () =>
    pids.every((pid, i) => {
      const now = stateOf(pid);
      return now === undefined || now.state === "Z" || now.start !== starts[i];
    });
}

interface Served {
  child: ChildProcess;
  run: Promise<CliRun>;
  /** Its TMPDIR, inside the tree's folder: where serve -j without --index makes its scratch index. */
  tmp: string;
  url: string;
  port: number;
  stderr: () => string;
}

// Starts `serve -j processes` over the tree and waits for its first scan and for every serving process to report.
async function serve(processes: number, extra: string[] = []): Promise<Served> {
  const tmp = mkdtempSync(join(tree.dir, "tmp-"));
  let child!: ChildProcess;
  let err = "";
  let out = "";
  const run = runCli(
    cli,
    ["serve", "--port", "0", "-t", "0", "-g", "0", "--no-progress", "-j", String(processes), ...extra, tree.root],
    {
      timeoutMs: 4 * WAIT_MS,
      env: { TMPDIR: tmp },
      started: (c) => {
        child = c;
        c.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
        c.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
      },
    },
  );
  let match: RegExpExecArray | null = null;
  await until("serving URL printed", async () => {
    match = /^serving (http:\/\/127\.0\.0\.1:(\d+))\n/m.exec(out);
    return match !== null || child.exitCode !== null;
  });
  if (!match) throw new Error(`serve exited: ${err}`);
  const [, url, port] = match as RegExpExecArray;
  await until("first scan", async () => /^indexed 2 build IDs/m.test(err));
  await until(
    `${processes} serving processes`,
    async () => (await metric(url!, "serving_processes")) === processes + 1,
  );
  return { child, run, tmp, url: url!, port: Number(port), stderr: () => err };
}

describe("serve -j N: serving processes", () => {
  it("answers from several serving processes, children of the primary, and /metrics sums them", async () => {
    const s = await serve(3, ["--index", join(tree.dir, "index.sqlite")]);
    try {
      const p = tree.programs[0]!;
      const want = readFileSync(p.executable);
      const earlierText = await reported(s.url, 4);
      const before = valueIn(earlierText, "buildid_hits_total");
      const earlier = perProcessIn(earlierText);
      const answers = await Promise.all(Array.from({ length: 30 }, () => fresh(`${s.url}/buildid/${p.id}/executable`)));
      for (const a of answers) expect(a.status).toBe(200);
      for (const a of answers) expect(a.body.equals(want)).toBe(true);
      const text = await reported(s.url, 4);
      expect(valueIn(text, "buildid_hits_total") - before).toBe(30);
      const counts = perProcessIn(text);
      expect(counts.size).toBe(4);
      const members = [...counts.keys()].filter((pid) => pid !== s.child.pid);
      expect(members).toHaveLength(3);
      for (const pid of members)
        expect(readFileSync(`/proc/${pid}/status`, "utf8")).toMatch(new RegExp(`^PPid:\\s+${s.child.pid}$`, "m"));
      // Handed in turn: every serving process answered some; the primary none, its members being ready.
      for (const pid of members) expect(counts.get(pid)! - earlier.get(pid)!).toBeGreaterThan(0);
      expect(counts.get(s.child.pid!)).toBe(earlier.get(s.child.pid!));
    } finally {
      s.child.kill("SIGTERM");
      await s.run;
    }
  });

  it("keeps answering when a serving process is killed, reports it and starts another", async () => {
    const s = await serve(2);
    try {
      const p = tree.programs[1]!;
      const [victim, other] = await membersOf(s.url, s.child.pid!);
      process.kill(victim!.pid, "SIGKILL");
      await until("the death reported", async () => deathsOf(s, victim!.pid) === 1);
      const answers = await Promise.all(Array.from({ length: 10 }, () => fresh(`${s.url}/buildid/${p.id}/debuginfo`)));
      for (const a of answers) expect(a.status).toBe(200);
      await until("a new serving process", replaced(s, victim!, [other!], 2));
    } finally {
      s.child.kill("SIGTERM");
      await s.run;
    }
  });

  it("counts a serving process late to report (SIGSTOPped past 2 s) by its last report, naming it late: no counter goes down", async () => {
    const s = await serve(2);
    try {
      const { page: earlier, busiest: victim } = await hitsServed(s, tree.programs[0]!.id);
      process.kill(victim, "SIGSTOP");
      let asked: Promise<{ status: number; body: Buffer }>[] = [];
      let later: string;
      try {
        // Two connections in a row go one to each serving process; the running one answers once the primary gave up waiting.
        asked = [fresh(`${s.url}/metrics`), fresh(`${s.url}/metrics`)];
        later = (await Promise.race(asked)).body.toString("utf8");
      } finally {
        process.kill(victim, "SIGCONT");
      }
      expect(wentDown(earlier, later)).toEqual([]);
      expect(valueIn(later, "buildid_hits_total")).toBeGreaterThanOrEqual(valueIn(earlier, "buildid_hits_total"));
      expect(valueIn(later, "serving_processes")).toBe(2);
      expect(valueIn(later, "serving_processes_late")).toBe(1);
      expect(later).toMatch(new RegExp(`^serving_process_late\\{pid="${victim}"\\} 1$`, "m"));
      for (const a of await Promise.all(asked)) expect(a.status).toBe(200);
      const after = await reported(s.url, 3);
      expect(wentDown(later, after)).toEqual([]);
      expect(valueIn(after, "serving_processes_late")).toBe(0);
    } finally {
      s.child.kill("SIGTERM");
      await s.run;
    }
  });

  it("keeps the counts of a serving process killed after serving hits once another replaces it: no counter goes down", async () => {
    const s = await serve(2);
    try {
      const { page: earlier, busiest } = await hitsServed(s, tree.programs[1]!.id);
      const victim = { pid: busiest, start: stateOf(busiest)!.start };
      const kept = (await membersOf(s.url, s.child.pid!)).filter((m) => !same(victim)(m));
      process.kill(victim.pid, "SIGKILL");
      await until("the death reported", async () => deathsOf(s, victim.pid) === 1);
      await until("another serving process", replaced(s, victim, kept, 2));
      const later = await reported(s.url, 3);
      expect(wentDown(earlier, later, [victim.pid])).toEqual([]);
      expect(valueIn(later, "buildid_hits_total")).toBeGreaterThanOrEqual(valueIn(earlier, "buildid_hits_total"));
    } finally {
      s.child.kill("SIGTERM");
      await s.run;
    }
  });

  it.skipIf(!canSetLastPid())(
    "tells a serving process given a killed one's PID from it: answers, and no counter goes down but that PID's own (root: sets the last PID)",
    async (ctx) => {
      const s = await serve(2);
      try {
        const p = tree.programs[0]!;
        let given = false;
        for (let attempt = 1; attempt <= 5 && !given; attempt++) {
          const { page: earlier, busiest } = await hitsServed(s, p.id);
          const victim = { pid: busiest, start: stateOf(busiest)!.start };
          const kept = (await membersOf(s.url, s.child.pid!)).filter((m) => !same(victim)(m));
          // Killed younger, it would be replaced after a pause, long enough for another process to take its PID.
          await until(
            `serving process ${victim.pid} older than ${YOUNG_MS} ms`,
            async () => ageMs(victim.pid) > YOUNG_MS,
          );
          const deaths = deathsOf(s, victim.pid);
          given = (await killGivingPid(s, victim)) === victim.pid;
          await until("the death reported", async () => deathsOf(s, victim.pid) === deaths + 1);
          await until("another serving process", replaced(s, victim, kept, 2));
          const later = await reported(s.url, 3);
          expect(wentDown(earlier, later, [victim.pid])).toEqual([]);
          const answers = await Promise.all(
            Array.from({ length: 4 }, () => fresh(`${s.url}/buildid/${p.id}/executable`)),
          );
          for (const a of answers) expect(a.status).toBe(200);
        }
        if (!given) ctx.skip("other processes took the killed one's PID before its replacement, 5 times");
      } finally {
        s.child.kill("SIGTERM");
        await s.run;
      }
    },
  );

  it("takes its serving processes with it on SIGTERM (exit 143) and on SIGKILL, leaving nothing listening", async () => {
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const s = await serve(2);
      const members = [...(await perProcess(s.url)).keys()].filter((pid) => pid !== s.child.pid);
      expect(members).toHaveLength(2);
      expect(readdirSync(s.tmp), "its scratch index while it serves").toEqual([
        expect.stringMatching(/^buildid-cache-serve-/),
      ]);
      const gone = allExited(members);
      s.child.kill(signal);
      const ended = await s.run;
      if (signal === "SIGTERM") expect(ended, ended.stderr).toMatchObject({ code: 143, signal: null });
      else expect(ended.signal).toBe("SIGKILL");
      await until(`serving processes gone after ${signal}`, gone);
      expect(await refused(s.port)).toBe(true);
      // Removed on SIGTERM; SIGKILL leaves it (in the tree's folder, which afterAll removes).
      if (signal === "SIGTERM") expect(readdirSync(s.tmp), "its scratch index after SIGTERM").toEqual([]);
    }
  });

  it("exits 130 once on a terminal's Ctrl-C (SIGINT to the whole process group), its serving processes with it", async () => {
    const child = spawn(
      process.execPath,
      [cli, "serve", "--port", "0", "-t", "0", "--no-progress", "-j", "2", "--json", tree.root],
      {
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, TMPDIR: mkdtempSync(join(tree.dir, "tmp-")) },
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")));
    const ended = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await until("listening", async () => /"url":"[^"]+"/.test(out));
      const url = /"url":"([^"]+)"/.exec(out)![1]!;
      await until("2 serving processes", async () => (await metric(url, "serving_processes")) === 3);
      const members = [...(await perProcess(url)).keys()].filter((pid) => pid !== child.pid);
      const gone = allExited(members);
      process.kill(-child.pid!, "SIGINT");
      expect(await ended).toBe(130);
      await until("serving processes gone after SIGINT", gone);
      expect(await refused(Number(new URL(url).port))).toBe(true);
      expect(err).not.toMatch(/serving process \d+ exited/); // stopped by the primary, not restarted
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, "SIGKILL");
    }
  });

  it("every serving process sees a groom (SIGUSR2) and a rescan (SIGUSR1) the primary writes, without --index too", async () => {
    const s = await serve(2);
    const [gone, moved] = tree.programs;
    const away = join(tree.dir, "moved-away");
    try {
      const ask = async (id: string) =>
        Promise.all(Array.from({ length: 6 }, () => fresh(`${s.url}/buildid/${id}/executable`)));
      expect((await ask(gone!.id)).map((a) => a.status)).toEqual(Array(6).fill(200));
      renameSync(gone!.executable, away);
      s.child.kill("SIGUSR2");
      await until("groomed", async () => (await metric(s.url, "grooms_total")) === 1);
      expect((await ask(gone!.id)).map((a) => a.status)).toEqual(Array(6).fill(404));
      expect(await metric(s.url, "buildid_vanished_total")).toBe(0); // dropped by the groom, not found gone on open
      renameSync(away, gone!.executable);
      s.child.kill("SIGUSR1");
      await until("rescanned", async () => (await metric(s.url, "rescans_total")) === 2);
      expect((await ask(gone!.id)).map((a) => a.status)).toEqual(Array(6).fill(200));
      expect((await ask(moved!.id)).map((a) => a.status)).toEqual(Array(6).fill(200));
      expect([...(await perProcess(s.url)).values()].filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    } finally {
      s.child.kill("SIGTERM");
      const ended = await s.run;
      expect(ended.code).toBe(143);
    }
  });
});
