/**
 * The census: Viro's exercise on the machine at hand. How many `struct file` instances and
 * in-memory inodes there are, against how many distinct files are mmapped anywhere and how many
 * of those are ELF objects with build IDs; what each kernel design would cost for those counts;
 * and every build ID resolved into a {@link BuildIdCache}.
 */
import { readdir } from "node:fs/promises";
import type { BuildIdCacheStats } from "../cache.js";
import { BUILD_ID_MAX } from "../layout.js";
import { type BreakEven, breakEven, type DesignCost, designCosts, type Population } from "../model/index.js";
import { errorCode, isDenied, isGone } from "./errno.js";
import { type FileIdentity, formatIdentity } from "./identity.js";
import { type Mapping, MapsParseError, mappingIdentity, readMaps } from "./procfs/maps.js";
import { BuildIdResolver, type ResolverStats } from "./resolver/resolver.js";
import { readRegularFile } from "./safe-open.js";

/** procfs is not where the census looks: not Linux, or /proc not mounted. */
export class ProcUnavailableError extends Error {
  /** Always "ProcUnavailableError", so the error can be told apart after serialisation. */
  override name = "ProcUnavailableError";
}

/** One line of `/proc/slabinfo`. */
export interface SlabinfoRow {
  /** Cache name, e.g. `ext4_inode_cache`. */
  name: string;
  /** Objects in use. */
  activeObjects: number;
  /** Objects allocated (in use or free in their slabs). */
  objects: number;
  /** Bytes per object. */
  objectSize: number;
}

/** Kernel-wide counts, each `null` when its source is not readable. */
export interface KernelCounts {
  /** Kernel release (`/proc/sys/kernel/osrelease`). */
  release: string | null;
  /** `/proc/sys/fs/file-nr`: allocated `struct file`s, free ones (always 0 since 2.6), the maximum. */
  fileNr: {
    /** `struct file`s allocated now: the first field. */
    allocated: number;
    /** Allocated but unused `struct file`s: the second field, always 0 since Linux 2.6. */
    free: number;
    /** Most `struct file`s the kernel will allocate (`fs.file-max`): the third field. */
    max: number;
  } | null;
  /** The `filp` line of `/proc/slabinfo` (readable by root only): `struct file` objects in the slab. */
  filpSlab: SlabinfoRow | null;
  /** `/proc/sys/fs/inode-nr`: inodes in memory and how many of them are unused. */
  inodeNr: {
    /** Inodes allocated in memory: the first field (`nr_inodes`). */
    inodes: number;
    /** Of those, inodes not in use (`nr_free_inodes`): the second field. */
    unused: number;
  } | null;
  /** Inode slab caches in `/proc/slabinfo` (`inode_cache`, `*_inode`, `*_inode_cache`; not `lsm_inode_cache`). */
  inodeSlabs: SlabinfoRow[] | null;
  /** Active objects summed over {@link inodeSlabs}. */
  inodeSlabObjects: number | null;
}

/** Processes the census looked at. */
export interface ProcessCounts {
  /** PIDs listed. */
  listed: number;
  /** Whose maps were read. */
  scanned: number;
  /** Read with no mappings: kernel threads (and zombies). */
  withoutMappings: number;
  /** Exited between listing and reading. */
  exited: number;
  /** Maps not readable (permission). */
  denied: number;
  /**
   * Maps that did not parse in 4 reads: a process mapping and unmapping while the kernel
   * printed them (a read tears between the file's pages: a range then starts inside the one above), or not
   * the kernel's text.
   */
  changing: number;
  /** The PIDs whose maps were read, ascending. */
  pids: number[];
}

/** Mappings across the scanned processes. */
export interface MappingCounts {
  /** Every mapping. */
  total: number;
  /** Backed by a file (path starts with `/`). */
  file: number;
  /** Backed by a file and executable: what a profiler symbolises. */
  executableFile: number;
  /** Named by the kernel: `[heap]`, `[stack]`, `[vdso]`, `anon_inode:…`. */
  pseudo: number;
  /** Anonymous memory. */
  anonymous: number;
}

/** Distinct mmapped files, by (device, inode). */
export interface FileCounts {
  /** Distinct files mmapped by any scanned process. */
  mapped: number;
  /** Of those, ELF objects (start with `\x7fELF`). */
  elf: number;
  /** ELF objects carrying an `NT_GNU_BUILD_ID` note. */
  withBuildId: number;
  /**
   * Of {@link withBuildId}, those whose ID is longer than {@link BUILD_ID_MAX} bytes (`ld --build-id=0x…`):
   * the kernel's parser skips such notes, so no kernel design holds them, and the resolver keeps them
   * beside its cache rather than in it.
   */
  longBuildId: number;
  /** Valid ELF objects without one. */
  withoutBuildId: number;
  /** ELF objects whose headers or notes are malformed. */
  malformedElf: number;
  /** Mapped files that are not ELF (locale archives, caches, fonts, devices). */
  notElf: number;
  /** Mapped files that could not be read (every process mapping them exited or was denied). */
  unreadable: number;
  /** Distinct files with an executable mapping. */
  executable: number;
}

/** A profiler's view: one address in every executable file mapping, resolved through the cache. */
export interface ProfilerPass {
  /** Addresses resolved (one per executable file mapping). */
  addresses: number;
  /** That came back with a build ID. */
  resolved: number;
  /** Of those, served from the cache without reading the file. */
  fromCache: number;
}

/** Everything the census found; `formatCensus` (census-report.ts) prints it, `JSON.stringify` serialises it. */
export interface Census {
  /** When it started (ISO 8601). */
  takenAt: string;
  /** Milliseconds it took. */
  durationMs: number;
  /** Kernel release and object counts from procfs; a field is `null` when its file was not readable. */
  kernel: KernelCounts;
  /** Processes listed and scanned. */
  processes: ProcessCounts;
  /** Mappings across the scanned processes, by kind. */
  mappings: MappingCounts;
  /** Distinct mmapped files, by (device, inode), and what they turned out to be. */
  files: FileCounts;
  /** The counts the design costs are computed from; its ELF inodes are the files whose build ID fits the kernel's {@link BUILD_ID_MAX} bytes. */
  population: Population;
  /** Bytes each kernel design would add on this machine. */
  designs: DesignCost[];
  /** Where the stolen-bit design stops being the cheapest. */
  breakEven: BreakEven;
  /** The profiler pass: one address per executable file mapping, resolved through the cache after the files pass. */
  profilerPass: ProfilerPass;
  /** The cache's counters after both passes. */
  cache: BuildIdCacheStats;
  /** The resolver's counters after both passes. */
  resolver: ResolverStats;
}

/** Progress of a census phase, for a progress bar. */
export interface CensusProgress {
  /** `files`: reading each distinct mmapped file; `mappings`: the profiler pass over processes. */
  phase: "files" | "mappings";
  /** Units of this phase finished: distinct files resolved (`files`), or processes whose executable mappings were resolved (`mappings`). */
  done: number;
  /** Units in this phase: distinct mmapped files (`files`), or processes with an executable file mapping (`mappings`). */
  total: number;
}

/** Options for {@link takeCensus}. */
export interface CensusOptions {
  /** Where procfs is mounted. Default `/proc`. */
  procRoot?: string;
  /** Only these processes (default: every PID in procfs). */
  pids?: readonly number[];
  /** The resolver to fill (default: a new one of capacity {@link CensusOptions.capacity}). */
  resolver?: BuildIdResolver;
  /** Capacity of the cache when the census makes its own resolver. Default 16384. */
  capacity?: number;
  /** Called as work is done. */
  onProgress?: (progress: CensusProgress) => void;
}

// slabinfo is the largest of these, tens of KiB.
const PROC_TEXT_LIMIT = 1024 * 1024;

async function readText(path: string): Promise<string | null> {
  try {
    return new TextDecoder().decode((await readRegularFile(path, { untilEof: true, maxBytes: PROC_TEXT_LIMIT })).bytes);
  } catch {
    return null;
  }
}

function numbers(text: string | null): number[] | null {
  if (text === null) return null;
  const values = text.trim().split(/\s+/).map(Number);
  return values.every(Number.isSafeInteger) ? values : null;
}

function isInodeCache(name: string): boolean {
  return name !== "lsm_inode_cache" && (name === "inode_cache" || /_inode(_cache)?$/.test(name));
}

/** Parses `/proc/slabinfo` version 2.x text into its caches. */
export function parseSlabinfo(text: string): SlabinfoRow[] {
  const caches: SlabinfoRow[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("slabinfo") || line.startsWith("#") || line.trim() === "") continue;
    const [name, active, total, size] = line.trim().split(/\s+/);
    caches.push({ name: name!, activeObjects: Number(active), objects: Number(total), objectSize: Number(size) });
  }
  return caches;
}

async function kernelCounts(procRoot: string): Promise<KernelCounts> {
  const fileNr = numbers(await readText(`${procRoot}/sys/fs/file-nr`));
  const inodeNr = numbers(await readText(`${procRoot}/sys/fs/inode-nr`));
  const slabText = await readText(`${procRoot}/slabinfo`);
  const slabs = slabText === null ? null : parseSlabinfo(slabText);
  const inodeSlabs =
    slabs?.filter((s) => isInodeCache(s.name)).sort((a, b) => b.activeObjects - a.activeObjects) ?? null;
  return {
    release: (await readText(`${procRoot}/sys/kernel/osrelease`))?.trim() ?? null,
    fileNr: fileNr && fileNr.length >= 3 ? { allocated: fileNr[0]!, free: fileNr[1]!, max: fileNr[2]! } : null,
    filpSlab: slabs?.find((s) => s.name === "filp") ?? null,
    inodeNr: inodeNr && inodeNr.length >= 2 ? { inodes: inodeNr[0]!, unused: inodeNr[1]! } : null,
    inodeSlabs,
    inodeSlabObjects: inodeSlabs?.reduce((sum, s) => sum + s.activeObjects, 0) ?? null,
  };
}

/** Reads of one process's maps before the census counts it as changing. */
export const MAPS_TRIES = 4;

/** A process's mappings, read again while a read tears (undefined: every one of {@link MAPS_TRIES} did). */
async function readSettledMaps(pid: number, procRoot: string): Promise<Mapping[] | undefined> {
  for (let tries = 0; tries < MAPS_TRIES; tries++) {
    try {
      return await readMaps(pid, procRoot);
    } catch (error) {
      if (!(error instanceof MapsParseError)) throw error;
    }
  }
  return undefined;
}

/**
 * The PIDs the procfs at `procRoot` lists, sorted.
 * @throws ProcUnavailableError when there is no procfs there: nothing to list, or no process listed.
 */
export async function listPids(procRoot: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(procRoot);
  } catch (error) {
    throw new ProcUnavailableError(`no procfs at ${procRoot}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const pids = names.filter((n) => /^[0-9]+$/.test(n)).map(Number);
  if (pids.length === 0) throw new ProcUnavailableError(`no procfs at ${procRoot}: it lists no processes`);
  return pids.sort((a, b) => a - b);
}

interface Sighting {
  pid: number;
  mapping: Mapping;
  /** Realtime (ms) just before the maps holding `mapping` were read: the file was live then. */
  seenAt: number;
}

interface MappedFile {
  identity: FileIdentity;
  sightings: Sighting[];
  executable: boolean;
}

// A file read through one process that then exits can still be read through another.
const SIGHTINGS_KEPT = 4;

/**
 * Takes the census of the machine (or of `options.pids`).
 * @throws ProcUnavailableError when there is no procfs at `options.procRoot`.
 */
export async function takeCensus(options: CensusOptions = {}): Promise<Census> {
  const started = performance.now();
  const takenAt = new Date().toISOString();
  const procRoot = options.procRoot ?? "/proc";
  const progress = options.onProgress ?? (() => {});
  const listed = options.pids ? [...options.pids] : await listPids(procRoot);
  const kernel = await kernelCounts(procRoot);
  if (kernel.fileNr === null && kernel.inodeNr === null) {
    throw new ProcUnavailableError(`no procfs at ${procRoot}: ${procRoot}/sys/fs/file-nr is not readable`);
  }

  const processes: ProcessCounts = {
    listed: listed.length,
    scanned: 0,
    withoutMappings: 0,
    exited: 0,
    denied: 0,
    changing: 0,
    pids: [],
  };
  const mappings: MappingCounts = { total: 0, file: 0, executableFile: 0, pseudo: 0, anonymous: 0 };
  const mapped = new Map<string, MappedFile>();
  const executableStarts = new Map<number, bigint[]>();
  for (const pid of listed) {
    let maps: Mapping[] | undefined;
    const seenAt = Date.now();
    try {
      maps = await readSettledMaps(pid, procRoot);
    } catch (error) {
      const code = errorCode(error);
      if (isGone(code)) processes.exited++;
      else if (isDenied(code)) processes.denied++;
      else throw error;
      continue;
    }
    if (maps === undefined) {
      processes.changing++;
      continue;
    }
    processes.scanned++;
    processes.pids.push(pid);
    if (maps.length === 0) processes.withoutMappings++;
    const starts: bigint[] = [];
    for (const m of maps) {
      mappings.total++;
      mappings[m.kind]++;
      if (m.kind !== "file") continue;
      const identity = mappingIdentity(m);
      const key = formatIdentity(identity);
      let file = mapped.get(key);
      if (file === undefined) {
        file = { identity, sightings: [], executable: false };
        mapped.set(key, file);
      }
      if (file.sightings.length < SIGHTINGS_KEPT && !file.sightings.some((s) => s.pid === pid)) {
        file.sightings.push({ pid, mapping: m, seenAt });
      }
      if (m.exec) {
        mappings.executableFile++;
        file.executable = true;
        starts.push(m.start);
      }
    }
    if (starts.length > 0) executableStarts.set(pid, starts);
  }

  const resolver =
    options.resolver ?? (await BuildIdResolver.create({ capacity: options.capacity ?? 16_384, procRoot }));
  const files: FileCounts = {
    mapped: mapped.size,
    elf: 0,
    withBuildId: 0,
    longBuildId: 0,
    withoutBuildId: 0,
    malformedElf: 0,
    notElf: 0,
    unreadable: 0,
    executable: 0,
  };
  let done = 0;
  progress({ phase: "files", done, total: mapped.size });
  for (const file of mapped.values()) {
    if (file.executable) files.executable++;
    let outcome = "unreadable";
    for (const { pid, mapping, seenAt } of file.sightings) {
      const r = await resolver.resolveMapping(pid, mapping, seenAt);
      outcome = r.ok ? (r.buildId.length > 2 * BUILD_ID_MAX ? "long" : "ok") : r.reason;
      if (outcome !== "exited" && outcome !== "permission" && outcome !== "missing") break;
    }
    if (outcome === "ok" || outcome === "long") files.withBuildId++;
    if (outcome === "long") files.longBuildId++;
    else if (outcome === "no-build-id") files.withoutBuildId++;
    else if (outcome === "bad-elf") files.malformedElf++;
    else if (outcome === "not-elf") files.notElf++;
    else if (outcome !== "ok") files.unreadable++;
    progress({ phase: "files", done: ++done, total: mapped.size });
  }
  files.elf = files.withBuildId + files.withoutBuildId + files.malformedElf;

  const profilerPass: ProfilerPass = { addresses: 0, resolved: 0, fromCache: 0 };
  done = 0;
  progress({ phase: "mappings", done, total: executableStarts.size });
  for (const [pid, starts] of executableStarts) {
    for (const r of await resolver.resolveMany(pid, starts)) {
      profilerPass.addresses++;
      if (r.ok) {
        profilerPass.resolved++;
        if (r.cached) profilerPass.fromCache++;
      }
    }
    progress({ phase: "mappings", done: ++done, total: executableStarts.size });
  }

  const kernelSized = files.withBuildId - files.longBuildId;
  const population: Population = {
    files: kernel.fileNr?.allocated ?? 0,
    inodes: Math.max(kernel.inodeNr?.inodes ?? 0, kernelSized),
    elfInodes: kernelSized,
    executableMappings: mappings.executableFile,
  };
  return {
    takenAt,
    durationMs: Math.round(performance.now() - started),
    kernel,
    processes,
    mappings,
    files,
    population,
    designs: designCosts(population),
    breakEven: breakEven(population),
    profilerPass,
    cache: resolver.cacheStats(),
    resolver: resolver.stats(),
  };
}
