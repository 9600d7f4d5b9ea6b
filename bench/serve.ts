// Benchmark "serve": buildid-cache serve beside elfutils' debuginfod -F, in the same run over the same roots
// (/usr/bin plus a generated tree of executables and split debug files): time from start to a complete
// index, then request throughput and p99 latency under autocannon on 127.0.0.1; then the same load
// while each rescans its roots every second (ours `rescanSeconds: 1`, elfutils' `-t 1`).
//   npm run bench:serve [-- --files N --seconds S --connections C]   (builds dist/ first; BENCH_SEED sets the build IDs)
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { readBuildIdFromFileSync } from "../src/node/elf-file.js";

/** autocannon ships no types; these are the fields used. */
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p99: number; p50: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = createRequire(import.meta.url)("autocannon") as (options: {
  url: string;
  connections: number;
  duration: number;
  requests: { method: string; path: string }[];
}) => Promise<AutocannonResult>;

const SYSTEM_ROOT = "/usr/bin";
const POLL_MS = 50;
const READY_DEADLINE_MS = 600_000;

// `buildid-cache serve --port P ROOT...` as the package ships it: the built dist/, under plain node.
const DIST = new URL("../dist/node/debuginfod/index.js", import.meta.url).href;
const CHILD = `const [port, rescan, ...roots] = process.argv.slice(1);
const { BuildIdIndex, serveDebuginfod } = await import(${JSON.stringify(DIST)});
const index = await BuildIdIndex.create({ roots });
await index.scan();
await serveDebuginfod(index, { port: Number(port), rescanSeconds: Number(rescan) });`;
/** Seconds between rescans in the second round: elfutils' -t, our rescanSeconds. */
const RESCAN_S = 1;

await main();

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

// A deterministic 20-byte build ID for program `n` under `seed` (splitmix64 words).
function buildId(seed: bigint, n: number): string {
  let x = BigInt.asUintN(64, seed + BigInt(n) * 0x9e3779b97f4a7c15n);
  let hex = "";
  for (let w = 0; w < 3; w++) {
    x = BigInt.asUintN(64, x + 0x9e3779b97f4a7c15n);
    let z = x;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    hex += (z ^ (z >> 31n)).toString(16).padStart(16, "0");
  }
  return hex.slice(0, 40);
}

// Links `count` programs with distinct build IDs and splits each one's DWARF into debug/.
function generateTree(dir: string, count: number, seed: bigint): string[] {
  const bin = join(dir, "bin");
  const debug = join(dir, "debug");
  mkdirSync(bin, { recursive: true });
  mkdirSync(debug, { recursive: true });
  const c = join(dir, "p.c");
  writeFileSync(c, '#include <stdio.h>\nint main(int c, char **v) { (void)v; printf("%d\\n", c); return 0; }\n');
  execFileSync("cc", ["-g", "-c", "-o", join(dir, "p.o"), c]);
  const ids: string[] = [];
  for (let n = 0; n < count; n++) {
    const id = buildId(seed, n);
    const full = join(dir, "full");
    execFileSync("cc", ["-g", `-Wl,--build-id=0x${id}`, "-o", full, join(dir, "p.o")]);
    execFileSync("objcopy", ["--only-keep-debug", full, join(debug, `p${n}.debug`)]);
    execFileSync("objcopy", ["--strip-debug", full, join(bin, `p${n}`)]);
    ids.push(id);
  }
  rmSync(join(dir, "full"));
  return ids;
}

// Build IDs of up to `limit` regular files (not links, which neither server follows) of /usr/bin, by the project's reader.
function systemIds(limit: number): string[] {
  const ids: string[] = [];
  for (const name of readdirSync(SYSTEM_ROOT).sort()) {
    if (ids.length >= limit) break;
    const path = join(SYSTEM_ROOT, name);
    if (!lstatSync(path).isFile()) continue;
    try {
      ids.push(readBuildIdFromFileSync(path).buildId);
    } catch {}
  }
  return ids;
}

// Milliseconds from `started` until every path answers 200; asks one at a time and starts over at the
// first that does not, so polling costs the two servers little and the same.
async function untilComplete(url: string, paths: string[], started: number, child: ChildProcess): Promise<number> {
  let done = 0;
  while (performance.now() - started < READY_DEADLINE_MS) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    const status = await fetch(`${url}${paths[done]}`)
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      })
      .catch(() => 0);
    if (status === 200) {
      if (++done === paths.length) return performance.now() - started;
      continue;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`${url}: ${paths.length - done} paths still unanswered after ${READY_DEADLINE_MS} ms`);
}

interface Row {
  server: string;
  indexSeconds: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  failures: number;
}

async function measure(
  name: string,
  start: (port: number) => ChildProcess,
  paths: string[],
  seconds: number,
  connections: number,
): Promise<Row> {
  const port = await freePort();
  const started = performance.now();
  const child = start(port);
  try {
    const url = `http://127.0.0.1:${port}`;
    const ready = await untilComplete(url, paths, started, child);
    process.stderr.write(`${name}: complete index after ${(ready / 1000).toFixed(2)} s; load for ${seconds} s\n`);
    const load = await autocannon({
      url,
      connections,
      duration: seconds,
      requests: paths.map((path) => ({ method: "GET", path })),
    });
    return {
      server: name,
      indexSeconds: ready / 1000,
      requestsPerSecond: load.requests.average,
      p50: load.latency.p50,
      p99: load.latency.p99,
      failures: load.non2xx + load.errors + load.timeouts,
    };
  } finally {
    child.kill("SIGTERM");
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      files: { type: "string", default: "100" },
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "16" },
    },
  });
  const count = Number(values.files);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const seed = BigInt(process.env.BENCH_SEED ?? "16");
  process.stderr.write(
    `bench:serve: seed ${seed} (BENCH_SEED), ${count} generated programs, ${seconds} s of load, ${connections} connections\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), "bench-serve-"));
  try {
    const tree = join(dir, "tree");
    const ids = [...generateTree(tree, count, seed), ...systemIds(20)];
    const paths = ids.flatMap((id, n) =>
      (n < count ? [`/buildid/${id}/debuginfo`] : []).concat(`/buildid/${id}/executable`),
    );
    const roots = [SYSTEM_ROOT, tree];
    const env = { ...process.env, HOME: dir };
    const pair = async (rescan: number): Promise<[Row, Row]> => [
      await measure(
        `buildid-cache serve${rescan ? ` -t ${rescan}` : ""}`,
        (port) =>
          spawn(process.execPath, ["--input-type=module", "-e", CHILD, String(port), String(rescan), ...roots], {
            stdio: "ignore",
            env,
          }),
        paths,
        seconds,
        connections,
      ),
      await measure(
        `elfutils debuginfod -F${rescan ? ` -t ${rescan}` : ""}`,
        (port) =>
          spawn(
            "debuginfod",
            ["-F", "-p", String(port), "-d", join(dir, `db-${port}.sqlite`), "-t", String(rescan), "-g", "0", ...roots],
            { stdio: "ignore", env },
          ),
        paths,
        seconds,
        connections,
      ),
    ];
    const [ours, theirs] = await pair(0);
    const [oursRescanning, theirsRescanning] = await pair(RESCAN_S);
    const rows = [ours, theirs, oursRescanning, theirsRescanning];
    const cell = (s: string, w: number) => s.padStart(w);
    process.stdout.write(
      `\nroots: ${roots.join(", ")} (${ids.length} build IDs asked, ${paths.length} URLs)\n\n` +
        `${"server".padEnd(30)}${cell("index s", 10)}${cell("req/s", 10)}${cell("p50 ms", 9)}${cell("p99 ms", 9)}${cell("failed", 8)}\n`,
    );
    for (const r of rows) {
      process.stdout.write(
        `${r.server.padEnd(30)}${cell(r.indexSeconds.toFixed(2), 10)}${cell(r.requestsPerSecond.toFixed(0), 10)}` +
          `${cell(String(r.p50), 9)}${cell(String(r.p99), 9)}${cell(String(r.failures), 8)}\n`,
      );
    }
    const speedup = theirs.indexSeconds / ours.indexSeconds;
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    process.stdout.write(
      `\ntargets:\n` +
        `  index >= 10x faster than debuginfod -F: ${speedup.toFixed(1)}x, ${verdict(speedup >= 10)}\n` +
        `  throughput at least elfutils': ${(ours.requestsPerSecond / theirs.requestsPerSecond).toFixed(2)}x, ${verdict(ours.requestsPerSecond >= theirs.requestsPerSecond)}\n` +
        `  lower p99: ${ours.p99} ms vs ${theirs.p99} ms, ${verdict(ours.p99 < theirs.p99)}\n` +
        `  lower p99 while rescanning every ${RESCAN_S} s: ${oursRescanning.p99} ms vs ${theirsRescanning.p99} ms, ${verdict(oursRescanning.p99 < theirsRescanning.p99)}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
