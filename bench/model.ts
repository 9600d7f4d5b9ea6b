// The inode-flag model against its rivals: bytes per design across machine sizes and where they
// break even, time per operation on a churn workload, and how well slab addresses hash.
// `npx tsx bench/model.ts [--quick] [--json] [--out DIR]`; results under bench/results/ by default.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BUILD_ID_MAX, BuildIdCache, formatBytes } from "../src/index.js";
import { BUCKET_SIZE, BUCKET_SLOTS, ENTRY_SIZE } from "../src/layout.js";
import {
  type BuildIdModel,
  breakEven,
  createModel,
  type DesignName,
  designCosts,
  type HomeFunction,
  middleBitsHome,
  multiplicativeHome,
  type Population,
  probeLengths,
  SlabCache,
  type SlabPlacement,
  sideHashBytes,
} from "../src/model/index.js";
import { type BarGroup, barPanel, block, svgDocument, table } from "./format.js";
import { interleave, nsPerCall, onNode, runIfMain, writeResults } from "./harness.js";

const DESIGNS: DesignName[] = ["pointer-per-file", "pointer-per-inode", "stolen-bit"];

// ---- memory -------------------------------------------------------------------------------

/** Machines from a small desktop to a large server; mappings ≈ processes × libraries mapped each. */
const MACHINES: { name: string; population: Population }[] = [
  { name: "small desktop", population: { files: 1_000, inodes: 10_000, elfInodes: 100, executableMappings: 1_500 } },
  { name: "desktop", population: { files: 20_000, inodes: 200_000, elfInodes: 1_000, executableMappings: 10_000 } },
  {
    name: "workstation",
    population: { files: 100_000, inodes: 1_000_000, elfInodes: 5_000, executableMappings: 40_000 },
  },
  { name: "server", population: { files: 300_000, inodes: 3_000_000, elfInodes: 20_000, executableMappings: 150_000 } },
  {
    name: "large server",
    population: { files: 1_000_000, inodes: 10_000_000, elfInodes: 50_000, executableMappings: 500_000 },
  },
];

interface MemoryRow {
  machine: string;
  population: Population;
  bytes: Record<DesignName, number>;
  /** What a BuildIdCache of capacity `elfInodes` really reserves: table, and table plus batch buffers. */
  coreTableBytes: number;
  coreReservedBytes: number;
  breakEven: ReturnType<typeof breakEven>;
}

async function memory(): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  for (const { name, population } of MACHINES) {
    const bytes = Object.fromEntries(designCosts(population).map((c) => [c.design, c.bytes])) as Record<
      DesignName,
      number
    >;
    const cache = await BuildIdCache.create({ capacity: population.elfInodes });
    const stats = cache.stats();
    cache.dispose();
    const coreTableBytes = (stats.slots / BUCKET_SLOTS) * BUCKET_SIZE + stats.capacity * ENTRY_SIZE; // buckets + entries
    if (coreTableBytes !== sideHashBytes(population.elfInodes)) {
      throw new Error(
        `src/model/costs.ts is out of step with the core: ${coreTableBytes} B reserved, ${sideHashBytes(population.elfInodes)} B modelled`,
      );
    }
    rows.push({
      machine: name,
      population,
      bytes,
      coreTableBytes,
      coreReservedBytes: stats.reservedBytes,
      breakEven: breakEven(population),
    });
  }
  return rows;
}

// ---- time per operation -------------------------------------------------------------------

interface ChurnSetup {
  /** Inodes kept alive; each churn step frees the oldest and allocates one (reusing its address). */
  liveInodes: number;
  /** One inode in this many is an ELF object that gets mapped and sampled. */
  elfEvery: number;
  /** Files opened per new inode; the ELF inode's first file is mapped. */
  filesPerInode: number;
  /** Samples (lookups) per mapped file before it is closed. */
  samplesPerMapping: number;
}

const CHURN: ChurnSetup = { liveInodes: 20_000, elfEvery: 20, filesPerInode: 2, samplesPerMapping: 8 };
const QUICK_CHURN: ChurnSetup = { ...CHURN, liveInodes: 2_000 };
const STEPS_PER_SAMPLE = 200;

/** A build ID per slot of a ring, so the bench allocates nothing per attach. */
const IDS = new Uint8Array(256 * BUILD_ID_MAX).map((_, i) => (i * 131 + 7) & 0xff);
const ID_VIEWS = Array.from({ length: 256 }, (_, i) => IDS.subarray(i * BUILD_ID_MAX, (i + 1) * BUILD_ID_MAX));

interface TimeRow {
  design: DesignName;
  /** ns per lookup of a mapped file that hits. */
  lookupNs: number;
  /** ns per churn step of a non-ELF inode: allocate, open ×2, close ×2, evict + free. */
  plainStepNs: number;
  /** ns per churn step of an ELF inode: as above plus attach and 8 lookups. */
  elfStepNs: number;
  /** ns per operation over the mixed churn stream. */
  mixedOpNs: number;
  /** Bytes the design holds for build IDs at the end of the run (see `memoryBytes()`). */
  bytesAtSteadyState: number;
}

/**
 * One design under churn: `liveInodes` inodes in a FIFO ring; a step frees the oldest (its
 * slab object is reused at once by the next allocate) and brings in a new one with its files.
 */
class Churn {
  readonly #model: BuildIdModel;
  readonly #setup: ChurnSetup;
  readonly #ring: Int32Array;
  readonly #files: Int32Array;
  readonly #out = new Uint8Array(BUILD_ID_MAX);
  #head = 0;
  #step = 0;
  #hits = 0;
  /** Model operations run so far (an evict + free counts as one). */
  ops = 0;

  constructor(model: BuildIdModel, setup: ChurnSetup) {
    this.#model = model;
    this.#setup = setup;
    this.#ring = new Int32Array(setup.liveInodes);
    this.#files = new Int32Array(setup.filesPerInode);
    for (let i = 0; i < setup.liveInodes; i++) this.#ring[i] = this.#bring(i % setup.elfEvery === 0);
  }

  /** Frees the oldest inode and brings in a new one, ELF or not; returns hits (to keep the work alive). */
  step(elf: boolean): number {
    const m = this.#model;
    m.free(this.#ring[this.#head]!);
    this.ops++;
    const before = this.#hits;
    this.#ring[this.#head] = this.#bring(elf);
    this.#head = this.#head + 1 === this.#ring.length ? 0 : this.#head + 1;
    return this.#hits - before;
  }

  /** A mixed step: every `elfEvery`-th is ELF, as in the standing population. */
  mixed(): number {
    return this.step(this.#step++ % this.#setup.elfEvery === 0);
  }

  #bring(elf: boolean): number {
    const m = this.#model;
    const s = this.#setup;
    const inode = m.allocate();
    for (let f = 0; f < s.filesPerInode; f++) this.#files[f] = m.open(inode);
    this.ops += 1 + s.filesPerInode;
    if (elf) {
      const file = this.#files[0]!;
      m.attach(file, ID_VIEWS[inode & 255]!);
      for (let i = 0; i < s.samplesPerMapping; i++) this.#hits += m.lookupInto(file, this.#out) > 0 ? 1 : 0;
      this.ops += 1 + s.samplesPerMapping;
    }
    for (let f = 0; f < s.filesPerInode; f++) m.close(this.#files[f]!);
    this.ops += s.filesPerInode;
    return inode;
  }
}

function nsPer(fn: () => number, opsPerCall: number, quick: boolean): number {
  return nsPerCall(fn, { minSamples: 5, minMs: quick ? 50 : 400 }) / opsPerCall;
}

/** Times one design; runs in a child process of its own (see {@link timing}). */
async function timeDesign(design: DesignName, quick: boolean): Promise<TimeRow> {
  const setup = quick ? QUICK_CHURN : CHURN;
  // Room for every ELF inode of the standing population, as a profiler's 16k-64k cache has.
  const model = await createModel(design, { capacity: 16_384 });
  const churn = new Churn(model, setup);

  // Mapped files that stay open, for lookups that hit.
  const files = new Int32Array(1024);
  for (let i = 0; i < files.length; i++) {
    files[i] = model.open(model.allocate());
    model.attach(files[i]!, ID_VIEWS[i & 255]!);
  }
  const out = new Uint8Array(BUILD_ID_MAX);
  const lookupNs = nsPer(
    () => {
      let n = 0;
      for (let i = 0; i < files.length; i++) n += model.lookupInto(files[i]!, out);
      return n;
    },
    files.length,
    quick,
  );

  // Warm the churn path up (JIT tiers) before timing any of it.
  for (let i = 0; i < 2 * setup.liveInodes; i++) churn.mixed();
  const stepsOf = (elf: boolean) => () => {
    let hits = 0;
    for (let i = 0; i < STEPS_PER_SAMPLE; i++) hits += churn.step(elf);
    return hits;
  };
  const plainStepNs = nsPer(stepsOf(false), STEPS_PER_SAMPLE, quick);
  const elfStepNs = nsPer(stepsOf(true), STEPS_PER_SAMPLE, quick);
  // Put the population back to its standing mix before the mixed stream.
  for (let i = 0; i < setup.liveInodes; i++) churn.mixed();
  const opsBefore = churn.ops;
  let calls = 0;
  const mixedCallNs = nsPer(
    () => {
      calls++;
      let hits = 0;
      for (let i = 0; i < STEPS_PER_SAMPLE; i++) hits += churn.mixed();
      return hits;
    },
    1,
    quick,
  );
  const opsPerCall = (churn.ops - opsBefore) / calls;
  const row = {
    design,
    lookupNs,
    plainStepNs,
    elfStepNs,
    mixedOpNs: mixedCallNs / opsPerCall,
    bytesAtSteadyState: model.memoryBytes(),
  };
  model.dispose?.();
  return row;
}

function forkTiming(design: DesignName, quick: boolean): Promise<TimeRow> {
  return new Promise((resolve, reject) => {
    const args = ["--time-one", design, ...(quick ? ["--quick"] : [])];
    const child = fork(fileURLToPath(import.meta.url), args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.once("message", (row) => resolve(row as TimeRow));
    child.once("exit", (code) =>
      reject(new Error(`timing ${design} in a child process failed with exit code ${code}`)),
    );
  });
}

/**
 * Times every design, each in a fresh process: in one process the models' shared base class
 * and the churn loop would go polymorphic after the first design, taxing whichever runs later.
 * The machine is shared, so each design runs `rounds` times, interleaved, and keeps its fastest figures.
 */
async function timing(quick: boolean): Promise<TimeRow[]> {
  const rounds = quick ? 1 : 3;
  const runs = new Map<DesignName, TimeRow[]>(DESIGNS.map((d) => [d, []]));
  await interleave(DESIGNS, rounds, async (design) => {
    runs.get(design)!.push(await forkTiming(design, quick));
  });
  return DESIGNS.map((design) => {
    const rows = runs.get(design)!;
    const best = (k: "lookupNs" | "plainStepNs" | "elfStepNs" | "mixedOpNs") => Math.min(...rows.map((r) => r[k]));
    return {
      design,
      lookupNs: best("lookupNs"),
      plainStepNs: best("plainStepNs"),
      elfStepNs: best("elfStepNs"),
      mixedOpNs: best("mixedOpNs"),
      bytesAtSteadyState: rows[0]!.bytesAtSteadyState,
    };
  });
}

// ---- probe lengths of slab addresses ------------------------------------------------------

const SHIFTS = [4, 6, 8, 10, 12];

interface ProbeRow {
  placement: SlabPlacement;
  slots: number;
  keys: number;
  hash: string;
  mean: number;
  p99: number;
  max: number;
}

interface CoreProbe {
  placement: SlabPlacement;
  keys: number;
  probeMean: number;
  probeMax: number;
}

function summarize(lengths: Uint32Array): { mean: number; p99: number; max: number } {
  const sorted = lengths.slice().sort();
  let sum = 0;
  for (const x of sorted) sum += x;
  return {
    mean: sum / sorted.length,
    p99: sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!,
    max: sorted[sorted.length - 1]!,
  };
}

async function probes(quick: boolean): Promise<{ rows: ProbeRow[]; core: CoreProbe[] }> {
  const rows: ProbeRow[] = [];
  const core: CoreProbe[] = [];
  // 2^bits slots at load exactly 3/4: 768, 12,288, 98,304 and 786,432 inodes.
  for (const bits of quick ? [10, 14] : [10, 14, 17, 20]) {
    const n = (3 * 2 ** bits) / 4;
    for (const placement of ["scattered", "sequential"] as const) {
      const slab = new SlabCache({ placement });
      const keys = new BigUint64Array(n);
      for (let i = 0; i < n; i++) keys[i] = slab.address(slab.allocate());
      const hashes: [string, HomeFunction][] = [
        ["multiplicative", multiplicativeHome(bits)],
        ...SHIFTS.map((s): [string, HomeFunction] => [`(addr >> ${s}) & mask`, middleBitsHome(s, bits)]),
      ];
      for (const [hash, home] of hashes) {
        rows.push({ placement, slots: 2 ** bits, keys: n, hash, ...summarize(probeLengths(keys, bits, home)) });
      }
      const cache = await BuildIdCache.create({ capacity: n });
      cache.setMany(keys, new Uint8Array(n * BUILD_ID_MAX), 1);
      const stats = cache.stats();
      core.push({ placement, keys: n, probeMean: stats.probeMean, probeMax: stats.probeMax });
      cache.dispose();
    }
  }
  return { rows, core };
}

// ---- output -------------------------------------------------------------------------------

interface Results {
  machine: { node: string; quick: boolean; date: string };
  memory: MemoryRow[];
  time: TimeRow[];
  churn: ChurnSetup;
  probes: ProbeRow[];
  coreProbes: CoreProbe[];
}

function print(r: Results): void {
  console.log(`\n${onNode("Memory per design (bytes the design adds to the kernel)", r.machine.node)}`);
  console.log(
    table(
      block(
        [
          "machine",
          "files",
          "inodes",
          "ELF inodes",
          "exec maps",
          "per file",
          "per inode",
          "stolen bit",
          "file÷bit",
          "inode÷bit",
          "core table",
          "files b-e",
          "ELF b-e vs file",
          "ELF b-e vs inode",
        ],
        r.memory.map((m) => [
          m.machine,
          m.population.files,
          m.population.inodes,
          m.population.elfInodes,
          m.population.executableMappings,
          formatBytes(m.bytes["pointer-per-file"]),
          formatBytes(m.bytes["pointer-per-inode"]),
          formatBytes(m.bytes["stolen-bit"]),
          `${(m.bytes["pointer-per-file"] / m.bytes["stolen-bit"]).toFixed(1)}×`,
          `${(m.bytes["pointer-per-inode"] / m.bytes["stolen-bit"]).toFixed(1)}×`,
          formatBytes(m.coreTableBytes),
          m.breakEven.files,
          m.breakEven.elfInodesVsPerFile ?? "never",
          m.breakEven.elfInodesVsPerInode ?? "never",
        ]),
      ),
    ),
  );
  console.log(
    "b-e = break-even. files b-e: fewest open files at which pointer-per-file costs as much as the stolen bit\n" +
      "(0: its 24 B per executable mapping alone already cost more). ELF b-e: cached ELF inodes at which the\n" +
      "side hash would cost as much as that rival (never: not up to the machine's inode count).",
  );
  const c = r.churn;
  console.log(
    `\n${onNode(`Time per operation (${c.liveInodes} live inodes, 1 in ${c.elfEvery} ELF, ${c.filesPerInode} files each, ${c.samplesPerMapping} samples per mapping)`, r.machine.node)}`,
  );
  console.log(
    table(
      block(
        ["design", "lookup ns", "non-ELF step ns", "ELF step ns", "mixed ns/op", "bytes at steady state"],
        r.time.map((t) => [
          t.design,
          t.lookupNs.toFixed(1),
          t.plainStepNs.toFixed(0),
          t.elfStepNs.toFixed(0),
          t.mixedOpNs.toFixed(1),
          formatBytes(t.bytesAtSteadyState),
        ]),
      ),
    ),
  );
  console.log(`\n${onNode("Probe lengths at load 3/4 (linear probing, same shape as the core)", r.machine.node)}`);
  console.log(
    table(
      block(
        ["placement", "inodes", "hash", "mean", "p99", "max"],
        r.probes.map((p) => [p.placement, p.keys, p.hash, p.mean.toFixed(2), p.p99, p.max]),
      ),
    ),
  );
  console.log(
    `\n${onNode("The real core (multiplicative hash), stats() after inserting the same inodes", r.machine.node)}`,
  );
  console.log(
    table(
      block(
        ["placement", "inodes", "probeMean", "probeMax"],
        r.coreProbes.map((p) => [p.placement, p.keys, p.probeMean.toFixed(2), p.probeMax]),
      ),
    ),
  );
}

const COLORS: Record<string, string> = {
  "pointer-per-file": "#d95f02",
  "pointer-per-inode": "#7570b3",
  "stolen-bit": "#1b9e77",
  mean: "#1b9e77",
  p99: "#d95f02",
  max: "#7570b3",
  lookup: "#66a61e",
  "mixed churn op": "#e6ab02",
};

/** The chart: bytes per design, time per operation, and probe lengths at the largest population. */
function chart(r: Results): string {
  const largest = Math.max(...r.probes.map((p) => p.keys));
  const count = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const bar = (name: string, value: number) => ({ name, value, color: COLORS[name] ?? "#999" });
  const panels: [string, BarGroup[], (v: number) => string][] = [
    [
      "Bytes each design adds, by machine",
      r.memory.map((m) => ({ label: m.machine, bars: DESIGNS.map((d) => bar(d, m.bytes[d])) })),
      formatBytes,
    ],
    [
      "ns per operation (this model in JS; the stolen bit crosses into wasm)",
      r.time.map((t) => ({ label: t.design, bars: [bar("lookup", t.lookupNs), bar("mixed churn op", t.mixedOpNs)] })),
      (v) => v.toFixed(1),
    ],
    ...(["scattered", "sequential"] as const).map((placement): [string, BarGroup[], (v: number) => string] => [
      `Probe length at load 3/4, ${largest} inodes, ${placement} slabs`,
      r.probes
        .filter((p) => p.keys === largest && p.placement === placement)
        .map((p) => ({ label: p.hash, bars: (["mean", "p99", "max"] as const).map((k) => bar(k, p[k])) })),
      count,
    ]),
  ];
  return svgDocument(
    `${r.machine.node}, ${r.machine.date}`,
    panels.map(
      ([title, groups, format]) =>
        (y: number) =>
          barPanel(title, groups, y, format),
    ),
  );
}

/** Runs the model benchmark: `--quick` for small populations only, `--json` to also write model.json, `--out DIR` for where. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean" },
      json: { type: "boolean" },
      out: { type: "string" },
      "time-one": { type: "string" },
    },
    strict: false,
  });
  const quick = values.quick === true;
  const one = values["time-one"];
  if (typeof one === "string") {
    if (!DESIGNS.includes(one as DesignName))
      throw new RangeError(`--time-one must be one of ${DESIGNS.join(", ")}, got ${one}`);
    process.send?.(await timeDesign(one as DesignName, quick));
    return;
  }
  const results: Results = {
    machine: { node: process.version, quick, date: new Date().toISOString() },
    memory: await memory(),
    time: await timing(quick),
    churn: quick ? QUICK_CHURN : CHURN,
    ...(await probes(quick).then(({ rows, core }) => ({ probes: rows, coreProbes: core }))),
  };
  print(results);
  const out = typeof values.out === "string" ? values.out : undefined;
  const files: Record<string, string> = { "model.svg": chart(results) };
  if (values.json === true) files["model.json"] = `${JSON.stringify(results, null, 2)}\n`;
  console.log(`\nwrote ${writeResults(out, files).join(", ")}`);
}

runIfMain(import.meta.url, "bench:model", main);
