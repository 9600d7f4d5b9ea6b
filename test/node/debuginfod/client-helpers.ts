// What the client tests share: elfutils' own server over a tree (with its own upstreams and cache),
// debuginfod-find run with a given environment, a free port, and the error a promise rejects with.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
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

/** elfutils' `debuginfod -F` over `root`, with `env` (DEBUGINFOD_URLS, DEBUGINFOD_CACHE_PATH) besides PATH and HOME. */
export interface Elfutils {
  url: string;
  process: ChildProcess;
  /** Its standard error so far (its request log, with -v). */
  log(): string;
}

/**
 * Starts elfutils' server over `root` with `-v` and `env`, once it answers `ready` paths with 200
 * (none: /metrics), polling 120 times, 0.5 s apart. elfutils 0.188 has no -p 0: on a port that was
 * free a moment ago another process may bind first (it then exits), so a start on a port of its
 * own choosing is retried on a new one, up to 5 times; one on the given `port` throws.
 */
export async function startElfutilsWith(
  dir: string,
  root: string,
  env: NodeJS.ProcessEnv,
  ready: string[] = [],
  port?: number,
): Promise<Elfutils> {
  let err = "";
  for (let attempt = 1; attempt <= (port === undefined ? 5 : 1); attempt++) {
    const p = port ?? (await freePort());
    const db = join(mkdtempSync(join(dir, "elfutils-")), "db.sqlite");
    const child = spawn("debuginfod", ["-F", "-v", "-p", String(p), "-d", db, "-t", "0", "-g", "0", root], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { PATH: process.env.PATH, HOME: dir, ...env },
    });
    err = "";
    const listening = await new Promise<boolean>((resolve) => {
      child.stderr!.on("data", (chunk: Buffer) => {
        err += chunk.toString("utf8");
        const on = /started http server on (.*) port=/.exec(err)?.[1];
        if (on !== undefined) resolve(on.includes("IPv4")); // IPv6 alone: 127.0.0.1 is someone else's
      });
      child.once("exit", () => resolve(false));
    });
    if (!listening) {
      child.kill("SIGKILL");
      continue;
    }
    const url = `http://127.0.0.1:${p}`;
    for (let poll = 0; poll < 120; poll++) {
      const statuses = await Promise.all(
        (ready.length ? ready : ["/metrics"]).map((path) =>
          fetch(url + path)
            .then(async (r) => {
              await r.text();
              return r.status;
            })
            .catch(() => 0),
        ),
      );
      if (statuses.every((s) => s === 200)) return { url, process: child, log: () => err };
      await new Promise((r) => setTimeout(r, 500));
    }
    child.kill("SIGKILL");
    throw new Error(`debuginfod -F at ${url} was not ready in ${WAIT_MS} ms: ${err}`);
  }
  throw new Error(
    `debuginfod did not listen on 127.0.0.1${port === undefined ? " in 5 attempts" : `:${port}`}:\n${err}`,
  );
}

/** elfutils' `debuginfod -F` over `tree.root`, once it serves every program's debuginfo. */
export function startElfutils(tree: Tree): Promise<Elfutils> {
  return startElfutilsWith(
    tree.dir,
    tree.root,
    {},
    tree.programs.map((p) => `/buildid/${p.id}/debuginfo`),
  );
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
