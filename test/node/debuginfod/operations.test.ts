// What an operator reads of a running serve: the request log (one line per request: client,
// request, status, bytes, ms, where from), /metrics with the forwarding's counters and latency
// histogram (parsed as Prometheus text), and the command line's federation and limit options.
import { type ChildProcess, execFile } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { join } from "node:path";
import parse from "parse-prometheus-text-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { serveDebuginfod } from "../../../src/node/debuginfod/server.js";
import { UPSTREAM_BUCKETS_S } from "../../../src/node/debuginfod/upstream.js";
import { bundleCli, type CliRun, runCli } from "../../helpers/cli.js";
import { WAIT_MS } from "./client-helpers.js";
import { makeTree, type Tree } from "./fixtures.js";
import { get } from "./http.js";

const ELSEWHERE = `4455667788990011${"ee".repeat(12)}`;
const LINE =
  /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+:\d+) "(\S+) (\S+)" (\d{3}|-) (\d+) (\d+)ms (index|archive|upstream|cache|-) (\S+)( cut)?$/;

let tree: Tree;
let elsewhere: Tree; // what only the upstream holds
let stub: Server;
let stubUrl: string;
let stubHandler: (req: IncomingMessage, res: ServerResponse) => void;

beforeAll(async () => {
  tree = makeTree();
  elsewhere = makeTree([ELSEWHERE]);
  const bytes = readFileSync(elsewhere.programs[0]!.debuginfo);
  stubHandler = (req, res) => {
    if (!req.url?.includes(ELSEWHERE)) return void res.writeHead(404).end();
    res.writeHead(200, { "Content-Length": bytes.length, "X-DEBUGINFOD-FILE": "prog0.debug" }).end(bytes);
  };
  stub = createServer((req, res) => stubHandler(req, res));
  await new Promise<void>((resolve) => stub.listen(0, "127.0.0.2", resolve));
  stubUrl = `http://127.0.0.2:${(stub.address() as AddressInfo).port}`;
}, 120_000);
afterAll(() => {
  stub?.close();
  rmSync(tree.dir, { recursive: true, force: true });
  rmSync(elsewhere.dir, { recursive: true, force: true });
});

/** A request that is sent and then abandoned by its client once `ms` have passed. */
function abandon(url: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url);
    req.on("error", () => resolve());
    req.end();
    setTimeout(() => {
      req.destroy();
      resolve();
    }, ms);
  });
}

describe("the request log and /metrics", () => {
  it("logs one line per request, in the documented fields, and /metrics counts the forwarding", async () => {
    const index = await BuildIdIndex.create({ roots: [tree.root] });
    await index.scan();
    const lines: string[] = [];
    const server = await serveDebuginfod(index, {
      port: 0,
      upstream: { urls: [stubUrl], cachePath: join(tree.dir, "ops-cache"), env: {}, retries: 0 },
      requestLog: (line) => lines.push(line),
    });
    const [p] = tree.programs;
    const gone = `/buildid/${"ab".repeat(20)}/debuginfo`;
    const there = `/buildid/${ELSEWHERE}/debuginfo`;
    const exchanges: [method: string, path: string, headers: Record<string, string>][] = [
      ["GET", `/buildid/${p!.id}/executable`, {}],
      ["HEAD", `/buildid/${p!.id}/debuginfo`, {}],
      ["GET", there, { "X-Forwarded-For": "10.0.0.1, 10.0.0.2" }],
      ["GET", there, {}],
      ["GET", gone, {}],
      ["GET", "/buildid/NOT-HEX/debuginfo", { "X-Forwarded-For": '"quoted" \\ back' }],
    ];
    for (const [method, path, headers] of exchanges) {
      const r = await get(server.url + path, { method, headers });
      await r.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 0)); // the line is written on the response's close
    }
    // A client gone while its miss is forwarded: the stub holds the answer past the client's patience.
    const slow = `/buildid/${ELSEWHERE}/section/.debug_info`;
    let release = (): void => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const before = stubHandler;
    stubHandler = (req, res) => void held.then(() => before(req, res));
    await abandon(server.url + slow, 300);
    release();
    for (let i = 0; i < 200 && lines.length < exchanges.length + 1; i++) await new Promise((r) => setTimeout(r, 50));
    stubHandler = before;
    // The cut client's line is written when it leaves; the forward it started is counted when the stub answers, later.
    for (let i = 0; i < 200 && (server.metrics.upstream!.outcomes.found ?? 0) < 2; i++)
      await new Promise((r) => setTimeout(r, 50));

    const fields = lines.map((l) => LINE.exec(l));
    expect(fields.every(Boolean), lines.join("\n")).toBe(true);
    const summary = fields.map((m) => [m![3], m![4], m![5], Number(m![6]), m![8], m![9], m![10] ?? ""]);
    const size = (path: string): number => statSync(path).size;
    expect(summary).toEqual([
      ["GET", exchanges[0]![1], "200", size(p!.executable), "index", "-", ""],
      ["HEAD", exchanges[1]![1], "200", 0, "index", "-", ""],
      ["GET", there, "200", size(elsewhere.programs[0]!.debuginfo), "upstream", "10.0.0.1,10.0.0.2", ""],
      ["GET", there, "200", size(elsewhere.programs[0]!.debuginfo), "cache", "-", ""],
      ["GET", gone, "404", "not found\n".length, "-", "-", ""],
      ["GET", "/buildid/NOT-HEX/debuginfo", "400", expect.any(Number), "-", "\\x22quoted\\x22\\x20\\x5c\\x20back", ""],
      ["GET", slow, "-", 0, "-", "-", " cut"],
    ]);
    expect(new Set(fields.map((m) => m![2]!.replace(/:\d+$/, "")))).toEqual(new Set(["127.0.0.1"]));

    const families = new Map(parse(await (await get(`${server.url}/metrics`)).text()).map((f) => [f.name, f]));
    const counted = Object.fromEntries(
      families.get("upstream_requests_total")!.metrics.map((m) => [m.labels!.outcome, Number(m.value)]),
    );
    expect(counted).toEqual(server.metrics.upstream!.outcomes);
    expect(counted).toEqual({ found: 2, cached: 1, missing: 1 }); // the slow section, then the debuginfo twice, the gone ID
    const histogram = families.get("upstream_request_duration_seconds")!;
    expect(histogram.type).toBe("HISTOGRAM");
    const { buckets, count, sum } = histogram.metrics[0]!;
    const byBound = Object.entries(buckets!).sort(
      ([a], [b]) => Number(a.replace("+Inf", "Infinity")) - Number(b.replace("+Inf", "Infinity")),
    );
    const cumulative = byBound.map(([, n]) => Number(n));
    expect(byBound.map(([le]) => le)).toEqual([...UPSTREAM_BUCKETS_S.map(String), "+Inf"]);
    expect(cumulative).toEqual([...cumulative].sort((a, b) => a - b));
    expect(cumulative.at(-1)).toBe(Number(count));
    expect(Number(count)).toBe(counted.found! + counted.missing!); // the queries that asked the upstream
    expect(Number(sum)).toBeGreaterThan(0);
    const responses = families.get("http_responses_total")!.metrics;
    expect(responses.find((m) => m.labels?.result === "upstream")?.value).toBe(String(server.metrics.forwarded));
    expect(server.metrics.forwarded).toBe(2); // the abandoned one was not sent
    await server.close();
    index.dispose();
  }, 120_000);
});

describe("buildid-cache serve: federation and limit options", () => {
  let cli: string;
  beforeAll(async () => {
    cli = await bundleCli(join(tree.dir, "bundle"));
  }, 120_000);

  // Runs serve with `args` and `env` until `work` is done with its address, then SIGTERM.
  async function serving(
    args: string[],
    env: NodeJS.ProcessEnv,
    work: (url: string) => Promise<void>,
  ): Promise<CliRun> {
    let child!: ChildProcess;
    const run = runCli(cli, ["serve", "--port", "0", "-t", "0", "--json", ...args], {
      timeoutMs: WAIT_MS,
      started: (c) => {
        child = c;
      },
      env,
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk;
        const m = /"url":"([^"]+)"/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once("exit", () => reject(new Error("serve exited before it listened")));
    });
    try {
      await work(url);
    } finally {
      child.kill("SIGTERM");
    }
    return run;
  }

  it("-v logs each request; --upstream forwards; DEBUGINFOD_URLS is the default; --max-connections-per-client holds", async () => {
    const there = `/buildid/${ELSEWHERE}/debuginfo`;
    // -j 2: the same from serving processes, the connection cap counted where the primary accepts.
    for (const [args, env, j] of [
      [["--upstream", stubUrl], {}, "1"],
      [[], { DEBUGINFOD_URLS: `http://127.0.0.9:9 ${stubUrl}` }, "1"],
      [["--upstream", stubUrl], {}, "2"],
    ] as const) {
      const cache = join(tree.dir, `cli-cache-${args.length}-${j}`);
      const run = await serving(
        ["-v", "-j", j, "--max-connections-per-client", "1", ...args, tree.root],
        { ...env, DEBUGINFOD_CACHE_PATH: cache, DEBUGINFOD_RETRY_LIMIT: "0" },
        async (url) => {
          // A second connection from this address, while one is open, is closed on arrival, unanswered.
          const port = Number(new URL(url).port);
          const first = connect(port, "127.0.0.1").on("error", () => {});
          await new Promise((resolve) => first.once("connect", resolve));
          const second = connect(port, "127.0.0.1").on("error", () => {});
          second.end("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
          let answer = "";
          second.on("data", (chunk: Buffer) => {
            answer += chunk.toString("latin1");
          });
          await new Promise((resolve) => second.once("close", resolve));
          first.destroy();
          expect(answer).toBe("");
          // Served once the server has seen the first one close (bounded: 100 tries, 50 ms apart).
          let body: Buffer | undefined;
          for (let i = 0; i < 100 && !body; i++) {
            body = await get(url + there).then(
              async (r) => Buffer.from(await r.arrayBuffer()),
              () => new Promise<undefined>((resolve) => setTimeout(resolve, 50)),
            );
          }
          expect(body?.equals(readFileSync(elsewhere.programs[0]!.debuginfo))).toBe(true);
        },
      );
      expect(run.signal ?? run.code).toBe(143);
      expect(run.stderr).toMatch(/^buildid-cache: forwarding misses to /m);
      expect(run.stderr).toMatch(new RegExp(`"GET ${there}" 200 \\d+ \\d+ms upstream -$`, "m"));
      expect(run.stderr.match(new RegExp(`"GET ${there}" `, "g"))).toHaveLength(1); // one line per request
    }
  }, 240_000);

  it("refuses an upstream that is not an http or https URL before it scans, from --upstream or DEBUGINFOD_URLS", async () => {
    const bad = await runCli(cli, ["serve", "--upstream", "ftp://example.org", tree.root], { timeoutMs: WAIT_MS });
    expect([bad.code, bad.stderr]).toEqual([
      2,
      expect.stringMatching(/--upstream: upstream URL must be an http or https URL, got "ftp:\/\/example.org"/),
    ]);
    const env = await new Promise<{ code: number; err: string }>((resolve) =>
      execFile(
        process.execPath,
        [cli, "serve", "--port", "0", tree.root],
        { env: { PATH: process.env.PATH, HOME: tree.dir, DEBUGINFOD_URLS: "not-a-url" }, timeout: WAIT_MS },
        (error, _out, err) => resolve({ code: Number(error?.code ?? 0), err }),
      ),
    );
    expect(env).toEqual({
      code: 2,
      err: expect.stringMatching(/DEBUGINFOD_URLS: upstream URL must be an http or https URL, got "not-a-url"/),
    });
  }, 120_000);
});
