// Benchmark "resolver": samples resolved per second by BuildIdResolver.resolveMany over every process
// of this machine, in two scenarios, all in one run:
//  - sampler: addresses in executable file mappings only, the real clock; cold (new resolver), warm
//    (everything held) through resolveMany (an object per address) and through resolveInto (typed
//    arrays the caller owns), and re-read (forget() before each call, so the maps are read and the
//    files checked every call), at 1, 64 and 1,024 addresses per call, the three interleaved, best
//    of rounds;
//  - batch profiler: a quarter of the addresses in anonymous or data mappings (JIT code, heap,
//    .data), one call per process per 250 ms of the resolver's clock (simulated, so the bounds
//    expire as they would: the maps are re-read and the files re-checked every 4th call); cold is
//    the first pass of a new resolver over processes started for it (Node children nothing has
//    asked /proc about), warm the next passes, at 64 and 1,024 addresses per call;
// then where the time goes. Self-contained on purpose (no bench/ harness).
//   npx tsx bench/resolver.ts [--json] [--seconds S] [--rounds N]   (BENCH_SEED=N picks the addresses)
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { BuildIdCache } from "../src/index.js";
import { ProcFeed } from "../src/node/procfs/feed.js";
import { findMapping, type Mapping, mapFilesPath, parseMaps } from "../src/node/procfs/maps.js";
import { BuildIdResolver } from "../src/node/resolver/resolver.js";
import { ResolutionResults } from "../src/node/resolver/results.js";
import { AddressSpaces, isAnonymousPath, LookupResults } from "../src/spaces/index.js";

const { values } = parseArgs({
  options: {
    json: { type: "boolean" },
    seconds: { type: "string", default: "2" },
    rounds: { type: "string", default: "15" },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const SIZES = [1, 64, 1024] as const;
const BATCH_SIZES = [64, 1024] as const;
const BATCH_PERIOD_MS = 250;
const BATCH_PASSES = 12;
const seed = Number(process.env.BENCH_SEED ?? 1);
const loadAtStart = loadavg()[0]!;
console.error(
  `bench:resolver: Node ${process.version}, seed ${seed} (BENCH_SEED), ${ROUNDS} interleaved rounds over ${SECONDS} s per mode, load ${loadAtStart.toFixed(2)}`,
);

let state = seed >>> 0 || 1;
function random(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
}

interface Target {
  pid: number;
  maps: Mapping[];
  exec: Mapping[];
  /** Anonymous memory and data (non-executable file) mappings. */
  other: Mapping[];
}

function targets(pids: readonly string[] = readdirSync("/proc")): Target[] {
  const out: Target[] = [];
  for (const name of pids) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const maps = parseMaps(readFileSync(`/proc/${name}/maps`, "utf8"));
      const exec = maps.filter((m) => m.kind === "file" && m.exec);
      const other = maps.filter((m) => !m.exec && (isAnonymousPath(m.path) || m.kind === "file"));
      if (exec.length > 0 && other.length > 0) out.push({ pid: Number(name), maps, exec, other });
    } catch {}
  }
  return out;
}

function inside(m: Mapping): bigint {
  return m.start + BigInt(Math.floor(random() * Number(m.end - m.start)));
}

// Samples spread over the executable file mappings of a process, as a sampler would see them.
function samples(t: Target, n: number): bigint[] {
  return Array.from({ length: n }, () => inside(t.exec[Math.floor(random() * t.exec.length)]!));
}

// A batch profiler's samples: three quarters code, one quarter anonymous memory or file data.
function batchSamples(t: Target, n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => {
    const from = i % 4 === 3 ? t.other : t.exec;
    return inside(from[Math.floor(random() * from.length)]!);
  });
}

// Interleaved rounds, the best of each: on a shared machine the fastest round is the one least
// disturbed by other work, for both modes alike.
function best(values: number[]): number {
  return Math.max(...values);
}

/** Addresses per second of `pass` (one call per process), repeated until it has run `ms`. */
async function timed(pass: () => Promise<number>, ms: number): Promise<number> {
  let addresses = 0;
  const t0 = performance.now();
  let elapsed = 0;
  do {
    addresses += await pass();
    elapsed = performance.now() - t0;
  } while (elapsed < ms);
  return addresses / (elapsed / 1000);
}

const FRESH_PROCESSES = 16;
const started = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of started) c.kill();
});
// Processes no resolver (nor this bench) has asked /proc about: the batch profiler's honest cold start.
async function freshTargets(): Promise<{ children: ChildProcess[]; targets: Target[] }> {
  const code =
    "require('zlib');require('crypto');require('http');process.stdout.write('ready\\n');setInterval(()=>{},1e3)";
  const children = Array.from({ length: FRESH_PROCESSES }, () =>
    spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "ignore"] }),
  );
  for (const c of children) started.add(c);
  await Promise.all(children.map((c) => once(c.stdout!, "data")));
  return { children, targets: targets(children.map((c) => String(c.pid))) };
}

const procs = targets();
const rows: { scenario: string; perCall: number; mode: string; samplesPerSecond: number }[] = [];
/** In the warm rounds: addresses, and the bound re-checks they cost (stat reads, maps reads, file checks). */
const rechecks = new Map<string, { addresses: number; statReads: number; mapsReads: number; fileChecks: number }>();
const COUNTED = ["addresses", "statReads", "mapsReads", "fileChecks"] as const;

function count(key: string, before: ReturnType<BuildIdResolver["stats"]>, after: ReturnType<BuildIdResolver["stats"]>) {
  const c = rechecks.get(key) ?? { addresses: 0, statReads: 0, mapsReads: 0, fileChecks: 0 };
  for (const k of COUNTED) c[k] += after[k] - before[k];
  rechecks.set(key, c);
}

const sampler = new Map(SIZES.map((n) => [n, procs.map((t) => ({ pid: t.pid, addresses: samples(t, n) }))]));
for (const n of SIZES) {
  const list = sampler.get(n)!;
  const typedList = list.map(({ pid, addresses }) => ({ pid, addresses: BigUint64Array.from(addresses) }));
  const out = new ResolutionResults(n);
  const resolver = await BuildIdResolver.create();
  const once = async (forget: boolean) => {
    let count = 0;
    for (const { pid, addresses } of list) {
      if (forget) resolver.forget(pid);
      count += (await resolver.resolveMany(pid, addresses)).length;
    }
    return count;
  };
  const typed = async () => {
    let count = 0;
    for (const { pid, addresses } of typedList) count += (await resolver.resolveInto(pid, addresses, out)).length;
    return count;
  };
  const t0 = performance.now();
  const coldCount = await once(false);
  const cold = coldCount / ((performance.now() - t0) / 1000);
  rows.push({ scenario: "sampler", perCall: n, mode: "cold", samplesPerSecond: cold });
  const warm: number[] = [];
  const warmTyped: number[] = [];
  const reread: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = resolver.stats();
    warm.push(await timed(() => once(false), (SECONDS * 1000) / ROUNDS));
    count(`sampler @${n}`, before, resolver.stats());
    warmTyped.push(await timed(typed, (SECONDS * 1000) / ROUNDS));
    reread.push(await timed(() => once(true), (SECONDS * 1000) / ROUNDS));
  }
  rows.push({ scenario: "sampler", perCall: n, mode: "warm", samplesPerSecond: best(warm) });
  rows.push({ scenario: "sampler", perCall: n, mode: "warm typed", samplesPerSecond: best(warmTyped) });
  rows.push({ scenario: "sampler", perCall: n, mode: "re-read", samplesPerSecond: best(reread) });
}

for (const n of BATCH_SIZES) {
  // Best of three resolvers, each over processes of its own: cold is one pass, so one disturbed pass would decide it.
  const colds: number[] = [];
  const warms: number[] = [];
  for (let run = 0; run < 3; run++) {
    const fresh = await freshTargets();
    const list = fresh.targets.map((t) => ({ pid: t.pid, addresses: batchSamples(t, n) }));
    let clock = 0;
    const resolver = await BuildIdResolver.create({ now: () => clock });
    const pass = async () => {
      let count = 0;
      for (const { pid, addresses } of list) count += (await resolver.resolveMany(pid, addresses)).length;
      clock += BATCH_PERIOD_MS;
      return count;
    };
    let t0 = performance.now();
    const coldCount = await pass();
    colds.push(coldCount / ((performance.now() - t0) / 1000));
    const before = resolver.stats();
    let warmCount = 0;
    t0 = performance.now();
    for (let p = 0; p < BATCH_PASSES; p++) warmCount += await pass();
    warms.push(warmCount / ((performance.now() - t0) / 1000));
    count(`batch @${n}`, before, resolver.stats());
    for (const c of fresh.children) c.kill();
  }
  rows.push({ scenario: "batch", perCall: n, mode: "cold", samplesPerSecond: best(colds) });
  rows.push({ scenario: "batch", perCall: n, mode: "warm", samplesPerSecond: best(warms) });
}

// Where the time goes, per unit, measured on the same processes.
function perUnit(units: number, f: () => void): number {
  let rounds = 0;
  const t0 = performance.now();
  do {
    f();
    rounds++;
  } while (performance.now() - t0 < SECONDS * 250);
  return ((performance.now() - t0) * 1e6) / (rounds * units);
}
const distinctFiles = procs.reduce(
  (s, t) => s + new Set(t.exec.map((m) => `${m.major}:${m.minor}:${m.inode}`)).size,
  0,
);
const all1024 = sampler.get(1024)!;
const cache = await BuildIdCache.create({ capacity: 1024 });
const keys = BigUint64Array.from({ length: 1024 }, (_, i) => BigInt(i + 1));
for (const k of keys) cache.set(k, "0123456789abcdef0123456789abcdef01234567");
const ids = new Uint8Array(16 * 20);
const lengths = new Uint8Array(16);
const feed = new ProcFeed(new AddressSpaces());
for (const t of procs) feed.read(t.pid, 1n, { startTime: 0n, layout: "", comm: "", ppid: 1 }, t.maps);
const found = new LookupResults(1024);
const arrays = all1024.map((b) => BigUint64Array.from(b.addresses));
const breakdown = {
  "read and parse maps, per process (ns)": perUnit(procs.length, () => {
    for (const t of procs) {
      try {
        parseMaps(readFileSync(`/proc/${t.pid}/maps`, "utf8"));
      } catch {}
    }
  }),
  "stat of map_files, per distinct file (ns)": perUnit(distinctFiles, () => {
    for (const t of procs) {
      const seen = new Set<string>();
      for (const m of t.exec) {
        const k = `${m.major}:${m.minor}:${m.inode}`;
        if (seen.has(k)) continue;
        seen.add(k);
        try {
          statSync(mapFilesPath(t.pid, m), { bigint: true });
        } catch {}
      }
    }
  }),
  "address -> mapping search (Mapping[]), per address (ns)": perUnit(procs.length * 1024, () => {
    for (let i = 0; i < procs.length; i++) for (const a of all1024[i]!.addresses) findMapping(procs[i]!.maps, a);
  }),
  "address -> mapping search (the model's lookupMany), per address (ns)": perUnit(procs.length * 1024, () => {
    for (let i = 0; i < procs.length; i++) feed.spaces.lookupMany(procs[i]!.pid, arrays[i]!, found);
  }),
  "cache lookup get(), per key (ns)": perUnit(keys.length, () => {
    for (const k of keys) cache.get(k);
  }),
  "cache lookup getMany() of 16 keys, per key (ns)": perUnit(keys.length, () => {
    for (let i = 0; i < keys.length; i += 16) cache.getMany(keys.subarray(i, i + 16), ids, lengths);
  }),
};

const get = (scenario: string, n: number, mode: string) =>
  rows.find((r) => r.scenario === scenario && r.perCall === n && r.mode === mode)!.samplesPerSecond;
const baseline = get("sampler", 1024, "re-read");
// Warm at 64/call over the re-read baseline at 1,024 before issue 15, measured on main on this machine.
const TODAY_WARM64_RATIO = Number(process.env.BENCH_TODAY_WARM64 ?? 0.55);
const checks = [
  {
    target: "sampler: warm typed @1024 / re-read @1024 >= 20",
    value: get("sampler", 1024, "warm typed") / baseline,
    need: 20,
  },
  { target: "sampler: warm @1024 / re-read @1024 >= 20", value: get("sampler", 1024, "warm") / baseline, need: 20 },
  {
    target: `sampler: warm @64 / re-read @1024 >= 10 x ${TODAY_WARM64_RATIO}`,
    value: get("sampler", 64, "warm") / baseline,
    need: 10 * TODAY_WARM64_RATIO,
  },
  ...BATCH_SIZES.map((n) => ({
    target: `batch profiler: warm @${n} / cold @${n} >= 5`,
    value: get("batch", n, "warm") / get("batch", n, "cold"),
    need: 5,
  })),
];
const loadAtEnd = loadavg()[0]!;
if (values.json) {
  console.log(
    JSON.stringify(
      {
        node: process.version,
        load: [loadAtStart, loadAtEnd],
        seed,
        processes: procs.length,
        rows,
        breakdown,
        warmRechecks: Object.fromEntries(rechecks),
        checks,
      },
      null,
      2,
    ),
  );
} else {
  const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  console.log(
    `Node ${process.version}, ${procs.length} processes with executable file mappings, ${cpus().length} CPUs (shared machine), load ${loadAtStart.toFixed(2)} -> ${loadAtEnd.toFixed(2)}\n`,
  );
  console.log("sampler (executable addresses, real clock)");
  console.log("per call   cold/s       warm/s   warm typed/s    re-read/s");
  for (const n of SIZES)
    console.log(
      `${String(n).padStart(8)}   ${[get("sampler", n, "cold"), get("sampler", n, "warm"), get("sampler", n, "warm typed"), get("sampler", n, "re-read")].map((v) => fmt.format(v).padStart(10)).join("   ")}`,
    );
  console.log(`\nbatch profiler (a quarter anonymous or data addresses, one call per ${BATCH_PERIOD_MS} ms)`);
  console.log("per call   cold/s       warm/s");
  for (const n of BATCH_SIZES)
    console.log(
      `${String(n).padStart(8)}   ${[get("batch", n, "cold"), get("batch", n, "warm")].map((v) => fmt.format(v).padStart(10)).join("   ")}`,
    );
  console.log("\nwhere the time goes");
  for (const [k, v] of Object.entries(breakdown)) console.log(`  ${k.padEnd(66)} ${fmt.format(v).padStart(10)}`);
  for (const [key, c] of rechecks) {
    const per = (v: number) => ((v * 1000) / c.addresses).toFixed(2);
    console.log(
      `  warm ${key}: bound re-checks per 1,000 samples: ${per(c.statReads)} stat, ${per(c.mapsReads)} maps, ${per(c.fileChecks)} file checks`,
    );
  }
  console.log("\ntargets (one run)");
  for (const c of checks)
    console.log(
      `  ${c.target.padEnd(50)} ${c.value.toFixed(2).padStart(10)}  ${c.value >= c.need ? "met" : "NOT met"}`,
    );
}
