// What the federation tests share: elfutils' server with its own upstreams and cache, a counter
// from a /metrics page, and a folder's files.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { freePort, WAIT_MS } from "./client-helpers.js";

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

/** The value of the sample `name{labels}` on the /metrics page at `url`, 0 when absent. */
export async function metricOf(url: string, sample: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** A new empty folder under `dir`. */
export function emptyFolder(dir: string, name: string): string {
  const path = join(mkdtempSync(join(dir, `${name}-`)), "root");
  mkdirSync(path);
  return path;
}

/** Every file under `dir`, relative, sorted ([] when it does not exist). */
export function filesUnder(dir: string): string[] {
  return existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).sort() : [];
}
