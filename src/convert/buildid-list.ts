/**
 * `perf buildid-list -i` on a recording, line for line (perf 6.1's `builtin-buildid-list.c`): the dsos
 * of the build-ID table and of the maps, in the order perf makes them (see {@link DsoList}), each as
 * `<build id> <name>` with the ID padded to 40 columns; with hits, only dsos a sample's IP fell in.
 * perf lists hits only whatever it is asked when the recording has no BUILD_ID feature (`--buildid-mmap`,
 * `-B`, and pipe mode, whose features arrive after it decides), and everything when the file has AUX
 * area data. Hits are found with the address-space model: the sample's IP in its process (or the
 * kernel's space) at its time.
 *
 * @module
 */
import { Feature, Misc, RecordType } from "../perf/constants.js";
import type { BuildIdEntry } from "../perf/header.js";
import { type PerfDataSource, PerfDataStream, type PerfReadOptions, type PerfSession } from "../perf/reader.js";
import type { PerfRecord, RawRecord } from "../perf/records.js";
import type { RecordSink } from "../perf/splitter.js";
import { AddressSpaces, KERNEL_PID, LookupResults, LookupStatus } from "../spaces/index.js";
import { HI, LO } from "../spaces/layout.js";
import { type Dso, DsoList } from "./dsos.js";
import { CPUMODE_KERNEL, CPUMODE_USER, SpaceFeed } from "./feed.js";
import { HAS_PID, HAS_TIME, type SampleArena, W } from "./sample-arena.js";
import { RoundWindows } from "./windows.js";

/** Takes records and drops them: a stream read only for its feature sections at the end. */
const IGNORE: RecordSink = { record() {}, sample() {} };

/** perf's HEADER_AUXTRACE feature bit: with AUX area data perf lists every dso. */
const FEATURE_AUXTRACE = 18;

/** One line of the listing. */
export interface BuildIdListLine {
  /** Lowercase hex, "" when perf has none for the dso. */
  buildId: string;
  /** The dso's name (a path, `[kernel.kallsyms]`, `[vdso]`, `/tmp/perf-PID.map`). */
  name: string;
  /** A sample's IP fell in it (known only when the records were read). */
  hit: boolean;
  /** The machine: -1 for the host, a guest's pid otherwise. */
  machine: number;
}

/** What {@link listBuildIds} found. */
export interface BuildIdListing {
  /** The lines, in perf's order. */
  lines: BuildIdListLine[];
  /** Whether only dsos with hits are listed (asked for, or forced as perf forces it). */
  withHits: boolean;
  /** Whether the records were read (perf reads them for hits and in pipe mode; a file's table alone otherwise). */
  readRecords: boolean;
}

/** Options of {@link listBuildIds}. */
export interface BuildIdListOptions {
  /** List only dsos with samples (`perf buildid-list --with-hits`). */
  withHits?: boolean;
  /** Bounds on reading. */
  read?: PerfReadOptions;
}

/** A dso perf would make or find, in the order it would: resolved to a dso once the table is known. */
type Request =
  | { kind: "table"; entry: BuildIdEntry }
  | { kind: "kernel"; path: string; buildId: string }
  | { kind: "user"; name: string; id: string; buildId: string };

/** perf's name for an anonymous executable map's dso (`map__new`): its JIT symbol file. */
function jitName(pid: number): string {
  return `/tmp/perf-${pid}.map`;
}

/** perf's `is_anon_memory`, `is_no_dso_memory`: maps whose executable parts perf names after the JIT map. */
function jitNamed(path: string, flags: number): boolean {
  return (
    path === "//anon" ||
    path.startsWith("/dev/zero") ||
    path.startsWith("/anon_hugepage") ||
    path.startsWith("[stack") ||
    path.startsWith("/SYSV") ||
    path === "[heap]" ||
    (flags & 0x40000) !== 0
  );
}

const PROT_EXEC = 4;
const TWO_32 = 4294967296;
/** log2 of the hit cache's slots. */
const CACHE_BITS = 12;

/** `a < b` for times as (high, low) words. */
function before(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/** The dso id perf's `map__new` is given: device, inode and generation, or the build ID's bytes read as those fields. */
function dsoId(r: PerfRecord): string {
  if (r.kind !== "mmap2") return "";
  const id = r.identity;
  if (id.kind === "build-id") return `b${id.buildId.length / 2}:${id.buildId}`;
  if (id.maj === 0 && id.min === 0 && id.ino === 0n && id.inoGeneration === 0n) return "";
  return `${id.maj}:${id.min}:${id.ino}:${id.inoGeneration}`;
}

/** Reads the records for the dsos their maps make and the hits of their samples. */
class Collector {
  readonly requests: Request[] = [];
  readonly hits = new Set<number>();
  readonly #spaces = new AddressSpaces();
  readonly #feed = new SpaceFeed(this.#spaces);
  readonly #byFile = new Map<number, number>();
  readonly #byJit = new Map<number, number>();
  readonly #addresses = new BigUint64Array(1);
  readonly #words = new Uint32Array(this.#addresses.buffer);
  readonly #out = new LookupResults(1);
  readonly windows: RoundWindows;
  /** Bumped whenever an event changes a space: cached answers expire. */
  #generation = 0;
  // The hit cache: per (pid, IP), the dso request it hit (-1: none) while no event changed a space, for samples
  // no older than the space and the mapping; as the converter's frame cache, so a sample costs no lookup or bigint.
  readonly #cachePid = new Int32Array(1 << CACHE_BITS);
  readonly #cacheHi = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheLo = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheGen = new Int32Array(1 << CACHE_BITS).fill(-1);
  readonly #cacheRequest = new Int32Array(1 << CACHE_BITS);
  readonly #cacheSinceHi = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheSinceLo = new Uint32Array(1 << CACHE_BITS);

  constructor(session: () => PerfSession) {
    this.windows = new RoundWindows(
      {
        event: (r) => this.#event(r),
        samples: (arena, starts, count) => this.#samples(arena, starts, count),
        user: (raw) => this.#user(raw, session()),
      },
      {},
      false,
    );
  }

  #user(raw: RawRecord, session: PerfSession): void {
    if (raw.type !== RecordType.HEADER_BUILD_ID) return;
    const r = session.parse(raw);
    if (r.kind === "header-build-id")
      this.requests.push({
        kind: "table",
        entry: { pid: r.pid, buildId: r.buildId, filename: r.filename, misc: r.misc, offset: r.offset },
      });
  }

  #event(r: PerfRecord): void {
    const event = this.#feed.push(r);
    if (event !== undefined) this.#generation++;
    if (event?.type !== "map" || (r.kind !== "mmap" && r.kind !== "mmap2")) return;
    const buildId = r.kind === "mmap2" && r.identity.kind === "build-id" ? r.identity.buildId : "";
    const index = this.requests.length;
    if (event.pid === KERNEL_PID) this.requests.push({ kind: "kernel", path: r.filename, buildId });
    else if (jitNamed(r.filename, event.flags) && event.prot & PROT_EXEC) {
      this.requests.push({ kind: "user", name: jitName(event.pid), id: "", buildId: "" });
      this.#byJit.set(event.pid, index);
      return;
    } else this.requests.push({ kind: "user", name: r.filename, id: dsoId(r), buildId });
    const found = this.#spaces.lookup(event.pid, event.start, event.time);
    if (found.ok) this.#byFile.set(found.fileId, index);
  }

  #samples(arena: SampleArena, starts: Int32Array, count: number): void {
    const w = arena.words;
    for (let k = 0; k < count; k++) {
      const at = starts[k]!;
      const misc = w[at + W.MISC]!;
      const mode = misc & Misc.CPUMODE_MASK;
      if (mode !== CPUMODE_KERNEL && mode !== CPUMODE_USER) continue;
      const pid = mode === CPUMODE_KERNEL ? KERNEL_PID : misc & HAS_PID ? w[at + W.PID]! | 0 : -2;
      if (pid < KERNEL_PID) continue;
      const hi = w[at + W.IP_HI]!;
      const lo = w[at + W.IP_LO]!;
      const timeHi = misc & HAS_TIME ? w[at + W.TIME_HI]! : TWO_32;
      const timeLo = misc & HAS_TIME ? w[at + W.TIME_LO]! : 0;
      const slot =
        Math.imul(hi ^ Math.imul(lo, 0x9e3779b1) ^ Math.imul(pid, 0x85ebca6b), 0xc2b2ae35) >>> (32 - CACHE_BITS);
      if (
        this.#cacheGen[slot] === this.#generation &&
        this.#cacheLo[slot] === lo &&
        this.#cacheHi[slot] === hi &&
        this.#cachePid[slot] === pid &&
        !before(timeHi, timeLo, this.#cacheSinceHi[slot]!, this.#cacheSinceLo[slot]!)
      ) {
        const request = this.#cacheRequest[slot]!;
        if (request >= 0) this.hits.add(request);
        continue;
      }
      this.#hit(pid, hi, lo, timeHi, timeLo, slot);
    }
  }

  /** Looks up one sample's IP, notes its dso's hit, and caches the answer where it holds for later samples. */
  #hit(pid: number, hi: number, lo: number, timeHi: number, timeLo: number, slot: number): void {
    this.#words[HI] = hi;
    this.#words[LO] = lo;
    const time = timeHi < TWO_32 ? (BigInt(timeHi) << 32n) | BigInt(timeLo) : undefined;
    const space = this.#spaces.lookupMany(pid, this.#addresses, this.#out, time);
    const status = this.#out.status[0];
    const request =
      status === LookupStatus.OK
        ? this.#byFile.get(this.#out.fileId[0]!)
        : status === LookupStatus.ANONYMOUS && space !== undefined
          ? this.#byJit.get(space.pid)
          : undefined;
    if (request !== undefined) this.hits.add(request);
    // The answer holds for later samples only in the pid's newest, live space, and for a mapping that stays.
    if (status !== LookupStatus.OK && status !== LookupStatus.ANONYMOUS) return;
    if (space === undefined || space.endedAt !== undefined || this.#spaces.space(pid) !== space) return;
    let since = space.bornAt;
    if (this.#out.mapping[0]!.since > since) since = this.#out.mapping[0]!.since;
    this.#cacheGen[slot] = this.#generation;
    this.#cachePid[slot] = pid;
    this.#cacheHi[slot] = hi;
    this.#cacheLo[slot] = lo;
    this.#cacheRequest[slot] = request ?? -1;
    this.#cacheSinceHi[slot] = Number(since >> 32n);
    this.#cacheSinceLo[slot] = Number(since & 0xffffffffn);
  }
}

function machineOf(lists: Map<number, DsoList>, pid: number): DsoList {
  let list = lists.get(pid);
  if (list === undefined) {
    list = new DsoList();
    lists.set(pid, list);
  }
  return list;
}

/**
 * Lists a recording's build IDs as `perf buildid-list -i` does (see the module comment). The input is
 * read only as far as perf reads it: a file's build-ID table alone, unless hits are asked for or forced.
 */
export async function listBuildIds(
  source: PerfDataSource | PerfDataStream,
  options: BuildIdListOptions = {},
): Promise<BuildIdListing> {
  const stream = source instanceof PerfDataStream ? source : new PerfDataStream(source, options.read);
  const collector = new Collector(() => stream.session!);
  const tableFirst = source instanceof Uint8Array || (typeof Blob !== "undefined" && source instanceof Blob);
  let withHits = options.withHits ?? false;
  let readRecords = true;
  await stream.scan((session) => {
    // perf decides before it reads a record: in pipe mode no feature is known yet.
    const features = session.mode === "file" ? session.features : [];
    if (session.mode === "file" && features.includes(FEATURE_AUXTRACE)) withHits = false;
    if (!features.includes(Feature.BUILD_ID)) withHits = true;
    readRecords = withHits || session.mode === "pipe";
    if (readRecords) return collector.windows.sinkFor(session);
    // From bytes or a Blob a file's table is read before its records, which then need not be read at all.
    return tableFirst ? undefined : IGNORE;
  });
  collector.windows.finish();
  const session = stream.session!;
  const lists = new Map<number, DsoList>([[KERNEL_PID, new DsoList()]]);
  const table: Request[] =
    session.mode === "file" ? session.buildIds.map((entry) => ({ kind: "table", entry }) as const) : [];
  const dsos: (Dso | undefined)[] = [];
  for (const request of [...table, ...(readRecords ? collector.requests : [])]) {
    if (request.kind === "table") {
      const e = request.entry;
      const mode = e.misc & Misc.CPUMODE_MASK;
      machineOf(lists, e.pid).table(e.filename, e.buildId, mode === CPUMODE_KERNEL || mode === 4);
      dsos.push(undefined);
      continue;
    }
    const host = lists.get(KERNEL_PID)!;
    dsos.push(
      request.kind === "kernel"
        ? host.kernelMap(request.path, request.buildId)
        : host.userMap(request.name, request.id, request.buildId),
    );
  }
  for (const i of collector.hits) {
    const dso = dsos[table.length + i];
    if (dso !== undefined) dso.hit = true;
  }
  const lines: BuildIdListLine[] = [];
  const machines = [...lists.keys()].sort((a, b) => (a === KERNEL_PID ? -1 : b === KERNEL_PID ? 1 : a - b));
  for (const machine of machines)
    for (const d of lists.get(machine)!.list)
      if (!withHits || d.hit) lines.push({ buildId: d.buildId, name: d.name, hit: d.hit, machine });
  return { lines, withHits, readRecords };
}
