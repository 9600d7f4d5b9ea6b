// Benchmark "resolver": samples resolved per second by BuildIdResolver.resolveMany over every process
// of this machine, cold (new resolver), warm (maps and IDs cached) and with the maps re-read every
// call (forget() before each call), at 1, 64 and 1,024 addresses per call, all in one run (warm and
// re-read interleaved, best of rounds); then where
// warm and re-read time goes. Self-contained on purpose (no bench/ harness).
//   npx tsx bench/resolver.ts [--json] [--seconds S] [--rounds N]   (BENCH_SEED=N picks the addresses)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { BuildIdCache } from "../src/index.js";
import { findMapping, type Mapping, mapFilesPath, parseMaps } from "../src/node/maps.js";
import { ProcessView } from "../src/node/process-view.js";
import { BuildIdResolver } from "../src/node/resolver.js";

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
const seed = Number(process.env.BENCH_SEED ?? 1);
console.error(
  `bench:resolver seed ${seed} (BENCH_SEED), ${ROUNDS} interleaved rounds over ${SECONDS} s per mode, load ${loadavg()[0]!.toFixed(2)}`,
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
}

function targets(): Target[] {
  const out: Target[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const maps = parseMaps(readFileSync(`/proc/${name}/maps`, "utf8"));
      const exec = maps.filter((m) => m.kind === "file" && m.exec);
      if (exec.length > 0) out.push({ pid: Number(name), maps, exec });
    } catch {}
  }
  return out;
}

// Samples spread over the executable file mappings of a process, as a sampler would see them.
function samples(t: Target, n: number): bigint[] {
  return Array.from({ length: n }, () => {
    const m = t.exec[Math.floor(random() * t.exec.length)]!;
    return m.start + BigInt(Math.floor(random() * Number(m.end - m.start)));
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

const procs = targets();
const batches = new Map(SIZES.map((n) => [n, procs.map((t) => ({ pid: t.pid, addresses: samples(t, n) }))]));
const rows: { perCall: number; mode: string; samplesPerSecond: number }[] = [];
/** In the warm rounds: addresses, and the bound re-checks they cost (stat reads, maps reads, file checks). */
const syscalls = new Map<number, { addresses: number; statReads: number; mapsReads: number; fileChecks: number }>();
for (const n of SIZES) {
  const list = batches.get(n)!;
  const resolver = await BuildIdResolver.create();
  const once = async (forget: boolean) => {
    let count = 0;
    for (const { pid, addresses } of list) {
      if (forget) resolver.forget(pid);
      count += (await resolver.resolveMany(pid, addresses)).length;
    }
    return count;
  };
  const t0 = performance.now();
  const coldCount = await once(false);
  rows.push({ perCall: n, mode: "cold", samplesPerSecond: coldCount / ((performance.now() - t0) / 1000) });
  const warm: number[] = [];
  const warmCalls = { addresses: 0, statReads: 0, mapsReads: 0, fileChecks: 0 };
  const reread: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = resolver.stats();
    warm.push(await timed(() => once(false), (SECONDS * 1000) / ROUNDS));
    const after = resolver.stats();
    for (const k of ["addresses", "statReads", "mapsReads", "fileChecks"] as const)
      warmCalls[k] += after[k] - before[k];
    reread.push(await timed(() => once(true), (SECONDS * 1000) / ROUNDS));
  }
  rows.push({ perCall: n, mode: "warm", samplesPerSecond: best(warm) });
  syscalls.set(n, warmCalls);
  rows.push({ perCall: n, mode: "re-read", samplesPerSecond: best(reread) });
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
const all1024 = batches.get(1024)!;
const cache = await BuildIdCache.create({ capacity: 1024 });
const keys = BigUint64Array.from({ length: 1024 }, (_, i) => BigInt(i + 1));
for (const k of keys) cache.set(k, "0123456789abcdef0123456789abcdef01234567");
const ids = new Uint8Array(16 * 20);
const lengths = new Uint8Array(16);
const identity = { startTime: 0n, layout: "" };
const found = new Int32Array(1024);
const views = procs.map((t) => new ProcessView(t.maps, identity, 0, () => true));
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
  "address -> mapping search (u32 halves), per address (ns)": perUnit(procs.length * 1024, () => {
    for (let i = 0; i < procs.length; i++) views[i]!.findAll(all1024[i]!.addresses, found);
  }),
  "cache lookup get(), per key (ns)": perUnit(keys.length, () => {
    for (const k of keys) cache.get(k);
  }),
  "cache lookup getMany() of 16 keys, per key (ns)": perUnit(keys.length, () => {
    for (let i = 0; i < keys.length; i += 16) cache.getMany(keys.subarray(i, i + 16), ids, lengths);
  }),
};

const get = (n: number, mode: string) => rows.find((r) => r.perCall === n && r.mode === mode)!.samplesPerSecond;
const baseline = get(1024, "re-read");
// Today's (before issue 15) warm at 64/call over the re-read baseline at 1,024, measured on main on this machine.
const TODAY_WARM64_RATIO = Number(process.env.BENCH_TODAY_WARM64 ?? 0.55);
const checks = [
  { target: "warm @1024 / re-read @1024 >= 20", value: get(1024, "warm") / baseline, need: 20 },
  {
    target: `warm @64 / re-read @1024 >= 10 x today's ${TODAY_WARM64_RATIO}`,
    value: get(64, "warm") / baseline,
    need: 10 * TODAY_WARM64_RATIO,
  },
];
if (values.json) {
  console.log(
    JSON.stringify(
      { seed, processes: procs.length, rows, breakdown, warmRechecks: Object.fromEntries(syscalls), checks },
      null,
      2,
    ),
  );
} else {
  const fmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  console.log(`${procs.length} processes with executable file mappings, ${cpus().length} CPUs (shared machine)\n`);
  console.log("per call   cold/s       warm/s       re-read/s");
  for (const n of SIZES)
    console.log(
      `${String(n).padStart(8)}   ${[get(n, "cold"), get(n, "warm"), get(n, "re-read")].map((v) => fmt.format(v).padStart(10)).join("   ")}`,
    );
  console.log("\nwhere the time goes");
  for (const [k, v] of Object.entries(breakdown)) console.log(`  ${k.padEnd(58)} ${fmt.format(v).padStart(10)}`);
  const warm = (n: number) => fmt.format(1e9 / get(n, "warm"));
  for (const [n, c] of syscalls) {
    const per = (v: number) => ((v * 1000) / c.addresses).toFixed(2);
    console.log(
      `  warm @${n}: bound re-checks per 1,000 samples: ${per(c.statReads)} stat, ${per(c.mapsReads)} maps, ${per(c.fileChecks)} file opens`,
    );
  }
  console.log(
    `  ${"warm resolveMany in all, per address at 1,024 / 64 (ns)".padEnd(58)} ${`${warm(1024)} / ${warm(64)}`.padStart(10)}`,
  );
  console.log("\ntargets (one run)");
  for (const c of checks)
    console.log(
      `  ${c.target.padEnd(46)} ${c.value.toFixed(2).padStart(10)}  ${c.value >= c.need ? "met" : "NOT met"}`,
    );
}
