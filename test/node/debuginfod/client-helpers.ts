// What the client tests share: elfutils' own server over a tree, debuginfod-find run with a given
// environment, a free port, and the error a promise rejects with.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Tree } from "./fixtures.js";

/** Room for a loaded 2-core machine. */
export const WAIT_MS = 60_000;

/** A TCP port free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

// Polls until elfutils' server answers for every ID (GET: it refuses HEAD): its scan is done. Bounded: 120 tries, 0.5 s apart.
async function waitForScan(url: string, ids: string[]): Promise<void> {
  for (let attempt = 0; attempt < 120; attempt++) {
    const answers = await Promise.all(
      ids.map((id) =>
        fetch(`${url}/buildid/${id}/debuginfo`)
          .then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          })
          .catch(() => 0),
      ),
    );
    if (answers.every((s) => s === 200)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`debuginfod -F at ${url} did not index ${ids.join(", ")} in 60 s`);
}

/** elfutils' `debuginfod -F` over `tree.root`, once its scan is done. */
// elfutils 0.188 has no -p 0: the port is one that was free a moment ago, and another process may
// bind it first (debuginfod then exits, "cannot start http server"), so a start is retried on a new port.
export async function startElfutils(tree: Tree): Promise<{ url: string; process: ChildProcess }> {
  let log = "";
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    const db = join(tree.dir, `elfutils-${port}.sqlite`);
    const child = spawn("debuginfod", ["-F", "-p", String(port), "-d", db, "-t", "0", "-g", "0", tree.root], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH, HOME: tree.dir },
    });
    log = "";
    const listening = await new Promise<boolean>((resolve) => {
      child.stderr!.on("data", (chunk: Buffer) => {
        log += chunk;
        const on = /started http server on (.*) port=/.exec(log)?.[1];
        if (on !== undefined) resolve(on.includes("IPv4")); // IPv6 alone: 127.0.0.1 is someone else's
      });
      child.once("exit", () => resolve(false));
    });
    if (!listening) {
      child.kill("SIGKILL");
      continue;
    }
    child.stderr!.resume();
    const url = `http://127.0.0.1:${port}`;
    await waitForScan(
      url,
      tree.programs.map((p) => p.id),
    );
    return { url, process: child };
  }
  throw new Error(`debuginfod did not listen on 127.0.0.1 in 5 attempts:\n${log}`);
}

/** How a `debuginfod-find` run ended, and how long it took. */
export interface FindRun {
  code: number;
  out: string;
  err: string;
  ms: number;
}

/** Runs `debuginfod-find` with `args`, HOME at `home` and `env` as its whole environment besides PATH. */
export function debuginfodFind(args: string[], env: NodeJS.ProcessEnv, home: string): Promise<FindRun> {
  const started = performance.now();
  return new Promise((resolve) =>
    execFile(
      "debuginfod-find",
      args,
      { env: { PATH: process.env.PATH, HOME: home, ...env }, timeout: WAIT_MS },
      (error, out, err) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: out.trim(), err, ms: performance.now() - started }),
    ),
  );
}

/** Runs the bundled CLI `script` with `args` and `env` (besides PATH) as its environment. */
export function runFind(script: string, args: string[], env: NodeJS.ProcessEnv, home: string): Promise<FindRun> {
  const started = performance.now();
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [script, ...args],
      { env: { PATH: process.env.PATH, HOME: home, ...env }, timeout: WAIT_MS },
      (error, out, err) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: out.trim(), err, ms: performance.now() - started }),
    ),
  );
}

/** The error `promise` rejects with; a result fails the test. */
export async function failure<E extends Error = Error>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error("expected a failure, got a result");
}
