// serve -j N as processes on 127.0.0.1: requests answered by several serving processes at once with
// /metrics summing them, no counter of /metrics going down when a serving process is late to report
// (SIGSTOPped) or killed and replaced, a serving process killed mid-service replaced while the others answer, the
// pool's members gone with the primary (SIGTERM, or SIGKILL) and nothing left listening, a groom on
// SIGUSR2 and a rescan on SIGUSR1 seen by every serving process, and without --index too.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import parse from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleCli, type CliRun, runCli } from "../../helpers/cli.js";
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

/** The counters of page `earlier` lower or missing on page `later`; a process that is gone takes only its own per-process series. */
function wentDown(earlier: string, later: string): string[] {
  const after = countersIn(later);
  return [...countersIn(earlier)]
    .filter(([series, value]) => {
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

/** State and start time (fields 3 and 22 of /proc/PID/stat), or undefined once the PID is free. */
function stateOf(pid: number): { state: string; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0]!, start: fields[19]! };
  } catch {
    return undefined;
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
      const [victim, other] = [...(await perProcess(s.url)).keys()].filter((pid) => pid !== s.child.pid);
      process.kill(victim!, "SIGKILL");
      await until("the death reported", async () =>
        new RegExp(`serving process ${victim} exited \\(signal SIGKILL\\); starting another`).test(s.stderr()),
      );
      const answers = await Promise.all(Array.from({ length: 10 }, () => fresh(`${s.url}/buildid/${p.id}/debuginfo`)));
      for (const a of answers) expect(a.status).toBe(200);
      await until("a new serving process", async () => {
        const pids = [...(await perProcess(s.url)).keys()];
        return pids.length === 3 && !pids.includes(victim!) && pids.includes(other!);
      });
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
      const { page: earlier, busiest: victim } = await hitsServed(s, tree.programs[1]!.id);
      process.kill(victim, "SIGKILL");
      await until("the death reported", async () =>
        new RegExp(`serving process ${victim} exited \\(signal SIGKILL\\); starting another`).test(s.stderr()),
      );
      let later = "";
      await until("another serving process reported", async () => {
        later = await reported(s.url, 3);
        return !perProcessIn(later).has(victim);
      });
      expect(wentDown(earlier, later)).toEqual([]);
      expect(valueIn(later, "buildid_hits_total")).toBeGreaterThanOrEqual(valueIn(earlier, "buildid_hits_total"));
    } finally {
      s.child.kill("SIGTERM");
      await s.run;
    }
  });

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
