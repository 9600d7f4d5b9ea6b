// Benchmark "find": `buildid-cache find` beside elfutils' `debuginfod-find` in the same run, taking turns,
// each process whole (start, module loading, the query, the cache entry, the exit), with the servers on
// 127.0.0.1 in this process:
// - a hung first URL (accepts, never answers) and a good second one serving an executable: wall and CPU
//   (user + system, /usr/bin/time) of each, a fresh cache each run; beside them the floors of a Node process
//   (`node -e 0`, Node's own start; and a hand-written Node client making the same two GETs at once and
//   streaming the first 200 into a file, the least a Node process does for this answer);
// - a server trickling a byte a second with DEBUGINFOD_MAXTIME=2: when each client gives up, and how.
// Other work on the machine moves absolute figures: the load average and Node's version are printed, and
// the target (within 1.2x of debuginfod-find) is a ratio of medians taken in the same rounds.
//   npm run build && npx tsx bench/find.ts [-- --rounds R --file ELF --before DIR[,DIR...] --only hung|maxtime]
//   (--file: the executable served, default /usr/bin/ls; --before DIR adds the find of another built
//   checkout, DIR/dist/node/cli.js, e.g. main's, which is not built here)
import { spawn } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo, createServer as createTcpServer, type Socket } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readBuildIdFromFileSync } from "../src/node/elf-file.js";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "9" },
    file: { type: "string", default: "/usr/bin/ls" },
    before: { type: "string" },
    only: { type: "string" },
  },
});
const ROUNDS = Number(args.rounds);
const FILE = args.file!;
const CLI = fileURLToPath(new URL("../dist/node/cli.js", import.meta.url));
const ELFUTILS = "debuginfod-find";
/** The trickling round's DEBUGINFOD_MAXTIME, in seconds. */
const MAXTIME_S = 2;
/** The trickling round's runs of each client. */
const MAXTIME_ROUNDS = 3;

/** A client under test: its name and command line (after the program, before the arguments). */
interface Client {
  name: string;
  command: string[];
  /** A floor, no debuginfod client: not run against the trickling server. */
  floor?: boolean;
  /** Prints nothing (Node's start alone). */
  silent?: boolean;
}

// The least a Node process does for the answer: both GETs at once, the first 200 streamed into the
// cache's file, the other request destroyed, the path printed.
const TWO_GETS = `
import { request } from "node:http";
import { createWriteStream, mkdirSync } from "node:fs";
const [artifact, id] = process.argv.slice(1);
const dir = process.env.DEBUGINFOD_CACHE_PATH + "/" + id;
mkdirSync(dir, { recursive: true });
const requests = process.env.DEBUGINFOD_URLS.split(/\\s+/).filter(Boolean).map((base) => {
  const req = request(base + "/buildid/" + id + "/" + artifact, (res) => {
    if (res.statusCode !== 200) return res.resume();
    for (const other of requests) if (other !== req) other.destroy();
    res.pipe(createWriteStream(dir + "/" + artifact)).on("finish", () => process.stdout.write(dir + "/" + artifact + "\\n"));
  });
  req.on("error", () => {});
  req.end();
  return req;
});`;

const clients: Client[] = [
  ...(hasElfutils() ? [{ name: "debuginfod-find", command: [ELFUTILS] }] : []),
  { name: "buildid-cache find", command: [process.execPath, CLI, "find"] },
  ...(args.before ?? "")
    .split(",")
    .filter(Boolean)
    .map((dir) => ({ name: `find of ${dir}`, command: [process.execPath, join(dir, "dist/node/cli.js"), "find"] })),
  { name: "floor: node -e 0", command: [process.execPath, "-e", "0"], floor: true, silent: true },
  {
    name: "floor: two GETs in Node",
    command: [process.execPath, "--input-type=module", "-e", TWO_GETS],
    floor: true,
  },
];

function hasElfutils(): boolean {
  return (process.env.PATH ?? "").split(":").some((dir) => existsSync(join(dir, ELFUTILS)));
}

// The environment as the user has it (Node's start reads NODE_EXTRA_CA_CERTS, for one), without DEBUGINFOD_*.
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DEBUGINFOD_")));

/** One run: wall time measured here, CPU (user + system) by /usr/bin/time, the status and standard output. */
interface Run {
  wallMs: number;
  cpuMs: number;
  code: number | null;
  out: string;
}

function run(command: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const started = performance.now();
  const child = spawn("/usr/bin/time", ["-f", "%U %S", ...command], {
    env: { ...BASE_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk));
  return new Promise((resolve) =>
    child.on("close", (code) => {
      const wallMs = performance.now() - started;
      const [user, system] = (err.trim().split("\n").pop() ?? "").split(" ").map(Number);
      resolve({ wallMs, cpuMs: ((user ?? Number.NaN) + (system ?? Number.NaN)) * 1000, code, out: out.trim() });
    }),
  );
}

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

const { buildId: id } = readBuildIdFromFileSync(FILE);
const size = statSync(FILE).size;
const held = new Set<Socket>();
const hung = createTcpServer((socket) => {
  held.add(socket);
  socket.on("close", () => held.delete(socket));
  socket.on("error", () => {});
});
const good = createServer((req, res) => {
  if (req.url !== `/buildid/${id}/executable`) return res.writeHead(404).end();
  res.writeHead(200, { "Content-Length": size });
  createReadStream(FILE).pipe(res);
});
// Sends a 1000-byte answer a byte a second.
const trickle = createServer((_req, res) => {
  res.writeHead(200, { "Content-Length": 1000 });
  const timer = setInterval(() => res.write("x"), 1000);
  res.on("close", () => clearInterval(timer));
});
const [hungUrl, goodUrl, trickleUrl] = await Promise.all([listen(hung), listen(good), listen(trickle)]);
const scratch = mkdtempSync(join(tmpdir(), "bench-find-"));

console.log(
  `Node ${process.version}; served: ${FILE} (${size} B, build ID ${id}); NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? "set (every Node start reads it)" : "unset"}; load ${load()}`,
);

if (args.only !== "maxtime") {
  console.log(
    `\nhung first URL, good second (DEBUGINFOD_URLS="${hungUrl} ${goodUrl}"), ${ROUNDS} rounds, a fresh cache each run, order turning each round`,
  );
  const runs = new Map<Client, Run[]>(clients.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < clients.length; k++) {
      const client = clients[(round + k) % clients.length]!;
      const cache = join(scratch, "cache");
      const r = await run([...client.command, "executable", id], {
        DEBUGINFOD_URLS: `${hungUrl} ${goodUrl}`,
        DEBUGINFOD_CACHE_PATH: cache,
      });
      const expected = client.silent ? "" : join(cache, id, "executable");
      if (r.code !== 0 || r.out !== expected || (expected && statSync(expected).size !== size)) {
        throw new Error(`${client.name}: status ${r.code}, printed ${JSON.stringify(r.out)}, expected ${expected}`);
      }
      runs.get(client)!.push(r);
      rmSync(cache, { recursive: true, force: true });
    }
  }
  const elfutils = clients.find((c) => c.name === "debuginfod-find");
  const base = elfutils && runs.get(elfutils)!;
  const rows = clients.map((client) => {
    const rs = runs.get(client)!;
    const wall = median(rs.map((r) => r.wallMs));
    const cpu = median(rs.map((r) => r.cpuMs));
    const spread = `${Math.min(...rs.map((r) => r.wallMs)).toFixed(0)}-${Math.max(...rs.map((r) => r.wallMs)).toFixed(0)}`;
    const ratio = (mine: number, theirs: number | undefined) =>
      theirs === undefined ? "" : `${(mine / theirs).toFixed(1)}x`;
    return [
      client.name,
      wall.toFixed(0),
      spread,
      cpu.toFixed(0),
      ratio(wall, base && median(base.map((r) => r.wallMs))),
      ratio(cpu, base && median(base.map((r) => r.cpuMs))),
    ];
  });
  const head = ["client", "wall ms (median)", "wall min-max", "CPU ms (median)", "wall / elfutils", "CPU / elfutils"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [head, ...rows])
    console.log(row.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  "));
  console.log(`load ${load()}`);
}

if (args.only !== "hung") {
  console.log(
    `\na server trickling a byte a second (Content-Length 1000), DEBUGINFOD_MAXTIME=${MAXTIME_S}, DEBUGINFOD_RETRY_LIMIT=0: when each client gives up`,
  );
  for (const client of clients.filter((c) => !c.floor)) {
    const times: string[] = [];
    for (let round = 0; round < MAXTIME_ROUNDS; round++) {
      const cache = join(scratch, "cache");
      const r = await run([...client.command, "executable", id], {
        DEBUGINFOD_URLS: trickleUrl,
        DEBUGINFOD_MAXTIME: String(MAXTIME_S),
        DEBUGINFOD_RETRY_LIMIT: "0",
        DEBUGINFOD_CACHE_PATH: cache,
      });
      const left = existsSync(join(cache, id)) ? " (left files behind)" : "";
      times.push(`${(r.wallMs / 1000).toFixed(2)} s, status ${r.code}${left}`);
      rmSync(cache, { recursive: true, force: true });
    }
    console.log(`${client.name}: ${times.join("; ")}`);
  }
  console.log(`load ${load()}`);
}

for (const socket of held) socket.destroy();
hung.close();
good.close();
trickle.closeAllConnections();
trickle.close();
rmSync(scratch, { recursive: true, force: true });
