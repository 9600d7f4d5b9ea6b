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
import type { ParsePlan } from "../perf/attr.js";
import { Feature, Misc, RecordType, Sample, USER_TYPE_START } from "../perf/constants.js";
import type { BuildIdEntry } from "../perf/header.js";
import { type PerfDataSource, PerfDataStream, type PerfReadOptions, type PerfSession } from "../perf/reader.js";
import type { PerfRecord, RawRecord } from "../perf/records.js";
import type { RecordSink } from "../perf/splitter.js";
import { AddressSpaces, KERNEL_PID, LookupResults, LookupStatus } from "../spaces/index.js";
import { HI, LO } from "../spaces/layout.js";
import { type Dso, DsoList } from "./dsos.js";
import { CPUMODE_KERNEL, CPUMODE_USER, SpaceFeed } from "./feed.js";
import { before, bigOf, MAX_QUEUED, MAX_QUEUED_BYTES, takeDue, U64_MAX } from "./windows.js";

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
const ALL = 0xffffffff;
/** log2 of the hit cache's slots. */
const CACHE_BITS = 12;

/** The dso id perf's `map__new` is given: device, inode and generation, or the build ID's bytes read as those fields. */
function dsoId(r: PerfRecord): string {
  if (r.kind !== "mmap2") return "";
  const id = r.identity;
  if (id.kind === "build-id") return `b${id.buildId.length / 2}:${id.buildId}`;
  if (id.maj === 0 && id.min === 0 && id.ino === 0n && id.inoGeneration === 0n) return "";
  return `${id.maj}:${id.min}:${id.ino}:${id.inoGeneration}`;
}

/** Samples queued to start with; the queue doubles when full. */
const INITIAL_QUEUE = 1 << 14;
/** Bytes a queued sample counts against the queue's byte bound (the converter's sample record without a chain). */
const SAMPLE_BYTES = 36;
/** A queued sample that marks nothing (a cpumode other than the kernel's or user space's, or no pid). */
const NO_PID = -2;

/** Indices of the round state's times in words, as the converter's windows keep them: next flush bound, latest time queued, last time queued (high word -1: none). */
const NEXT_HI = 0;
const NEXT_LO = 1;
const MAX_HI = 2;
const MAX_LO = 3;
const LAST_HI = 4;
const LAST_LO = 5;

interface Queued {
  time: bigint;
  seq: number;
  record: PerfRecord;
  bytes: number;
}

/**
 * Reads the records for the dsos their maps make and the hits of their samples. Samples are read straight
 * from the record's bytes (pid, time, IP: no call chain, no object) into a queue of typed arrays, ordered as
 * the converter's {@link RoundWindows} order them (perf's rounds, its half flush past the same bounds), and
 * each is marked through the address-space model, remembering per pid and 64 KiB of addresses the mapping
 * it found while no event changes a space.
 */
class Collector implements RecordSink {
  readonly requests: Request[] = [];
  readonly hits = new Set<number>();
  readonly #spaces = new AddressSpaces();
  readonly #feed = new SpaceFeed(this.#spaces);
  readonly #byFile = new Map<number, number>();
  readonly #byJit = new Map<number, number>();
  readonly #addresses = new BigUint64Array(1);
  readonly #words = new Uint32Array(this.#addresses.buffer);
  readonly #out = new LookupResults(1);
  readonly #session: PerfSession;
  readonly #inputOrder: boolean;
  #view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** The last sample's plan and the byte offsets in its samples of the IP, TID and TIME (-1: absent) and the bytes they need. */
  #plan: ParsePlan | undefined;
  #fields = new Int32Array(4);
  /** The queue: per sample, its time and IP as (high, low) words, its pid and its arrival number (ties with events keep arrival order). */
  #q = new Float64Array(6 * INITIAL_QUEUE);
  #queued = 0;
  readonly #events: Queued[] = [];
  #seq = 0;
  #eventBytes = 0;
  readonly #t = new Float64Array([0, 0, 0, 0, -1, 0]);
  /** Bumped whenever an event changes a space: cached answers expire. */
  #generation = 0;
  // The hit cache: per (pid, 64 KiB of addresses), the mapping last found there (its range, and the time from
  // which it held it in the pid's newest, live space) and the dso request it hits (-1: none).
  readonly #cachePid = new Int32Array(1 << CACHE_BITS);
  readonly #cacheGen = new Int32Array(1 << CACHE_BITS).fill(-1);
  readonly #cacheRequest = new Int32Array(1 << CACHE_BITS);
  /** Per slot: start, end and since as (high, low) words; high words as doubles, since an end may be 2^64. */
  readonly #cacheRange = new Float64Array(6 << CACHE_BITS);

  constructor(session: PerfSession) {
    this.#session = session;
    // perf takes records in input order when they lack sample_id_all: it cannot order them.
    this.#inputOrder = session.attrs[0]?.sampleIdAll === false;
  }

  /** @internal A record other than a sample, in input order. */
  record(raw: RawRecord): void {
    if (raw.type >= USER_TYPE_START) {
      if (raw.type === RecordType.HEADER_BUILD_ID) this.#user(raw);
      else if (raw.type === RecordType.FINISHED_ROUND && this.#size() > 0) {
        this.#flush(this.#t[NEXT_HI]!, this.#t[NEXT_LO]!);
        this.#t[NEXT_HI] = this.#t[MAX_HI]!;
        this.#t[NEXT_LO] = this.#t[MAX_LO]!;
      }
      return;
    }
    const record = this.#session.parse(raw);
    const time = record.time;
    if (this.#inputOrder || time === undefined || time === 0n || time === U64_MAX) {
      this.#event(record);
      return;
    }
    this.#queue(Number(time >> 32n), Number(time & 0xffffffffn), raw.size);
    this.#eventBytes += raw.size;
    const events = this.#events;
    let i = events.length;
    while (i > 0 && events[i - 1]!.time > time) i--;
    events.splice(i, 0, { time, seq: this.#seq++, record, bytes: raw.size });
  }

  /** @internal A sample: its body is `length` bytes of `bytes.buffer` from `b`. */
  sample(bytes: Uint8Array, b: number, length: number, misc: number, offset: number, compressed: boolean): void {
    const session = this.#session;
    const view = bytes.buffer === this.#view.buffer ? this.#view : this.#viewOf(bytes);
    const le = session.littleEndian;
    const plan = session.attrSet.planFor(RecordType.SAMPLE, view, b, length, le, offset);
    const f = plan === this.#plan ? this.#fields : this.#fieldsOf(plan);
    const mode = misc & Misc.CPUMODE_MASK;
    let pid = NO_PID;
    let ipHi = 0;
    let ipLo = 0;
    let timeHi = TWO_32;
    let timeLo = 0;
    if (length >= f[3]!) {
      if (f[1]! >= 0) pid = view.getInt32(b + f[1]!, le);
      if (f[0]! >= 0) {
        ipHi = view.getUint32(b + f[0]! + (le ? 4 : 0), le);
        ipLo = view.getUint32(b + f[0]! + (le ? 0 : 4), le);
      }
      if (f[2]! >= 0) {
        timeHi = view.getUint32(b + f[2]! + (le ? 4 : 0), le);
        timeLo = view.getUint32(b + f[2]! + (le ? 0 : 4), le);
      }
    } else {
      // Too short for its fields: the reader's parser says what it makes of it (its error, for a malformed one).
      const body = new Uint8Array(bytes.buffer, b, length);
      const s = session.parse({ type: RecordType.SAMPLE, misc, size: length + 8, offset, compressed, body });
      if (s.kind === "sample") {
        pid = s.pid ?? NO_PID;
        ipHi = Number((s.ip ?? 0n) >> 32n);
        ipLo = Number((s.ip ?? 0n) & 0xffffffffn);
        if (s.time !== undefined) {
          timeHi = Number(s.time >> 32n);
          timeLo = Number(s.time & 0xffffffffn);
        }
      }
    }
    if (mode === CPUMODE_KERNEL) pid = KERNEL_PID;
    else if (mode !== CPUMODE_USER || pid < KERNEL_PID) pid = NO_PID;
    if (this.#inputOrder || timeHi === TWO_32 || (timeHi === 0 && timeLo === 0) || (timeHi === ALL && timeLo === ALL)) {
      this.#mark(pid, ipHi, ipLo, timeHi, timeLo);
      return;
    }
    this.#queue(timeHi, timeLo, SAMPLE_BYTES);
    if (6 * this.#queued === this.#q.length) {
      const q = new Float64Array(2 * this.#q.length);
      q.set(this.#q);
      this.#q = q;
    }
    const q = this.#q;
    const k = 6 * this.#queued++;
    q[k] = timeHi;
    q[k + 1] = timeLo;
    q[k + 2] = ipHi;
    q[k + 3] = ipLo;
    q[k + 4] = pid;
    q[k + 5] = this.#seq++;
  }

  /** Delivers everything (perf's final flush, at the end of the input). */
  finish(): void {
    this.#flush(TWO_32, 0);
  }

  #viewOf(bytes: Uint8Array): DataView<ArrayBufferLike> {
    this.#view = new DataView(bytes.buffer);
    return this.#view;
  }

  #fieldsOf(plan: ParsePlan): Int32Array {
    const t = plan.sampleType;
    const at = (bit: number) => (t & bit ? 8 * bitCount(t & (bit - 1 + Sample.IDENTIFIER)) : -1);
    const f = Int32Array.of(at(Sample.IP), at(Sample.TID), at(Sample.TIME), 0);
    f[3] = Math.max(f[0]!, f[1]!, f[2]!) + 8;
    this.#plan = plan;
    this.#fields = f;
    return f;
  }

  #size(): number {
    return this.#events.length + this.#queued;
  }

  #queue(hi: number, lo: number, bytes: number): void {
    const t = this.#t;
    if (this.#size() >= MAX_QUEUED || this.#eventBytes + SAMPLE_BYTES * this.#queued + bytes > MAX_QUEUED_BYTES)
      this.#flushHalf();
    if (this.#size() === 0 || !before(hi, lo, t[MAX_HI]!, t[MAX_LO]!)) {
      t[MAX_HI] = hi;
      t[MAX_LO] = lo;
    }
    t[LAST_HI] = hi;
    t[LAST_LO] = lo;
  }

  /** perf's half flush: delivers the older half of the queued span, from the earliest queued time to the last one queued. */
  #flushHalf(): void {
    const t = this.#t;
    if (this.#size() === 0 || t[LAST_HI]! < 0) return;
    let first = this.#events[0]?.time;
    for (let k = 0; k < 6 * this.#queued; k += 6) {
      const time = bigOf(this.#q[k]!, this.#q[k + 1]!);
      if (first === undefined || time < first) first = time;
    }
    const bound = first! + (bigOf(t[LAST_HI]!, t[LAST_LO]!) - first!) / 2n;
    t[NEXT_HI] = Number(bound >> 32n);
    t[NEXT_LO] = Number(bound & 0xffffffffn);
    this.#flush(t[NEXT_HI]!, t[NEXT_LO]!);
  }

  /**
   * Delivers what is due up to the bound: the events in time order, and before each the samples that come
   * before it (in time, then arrival). Each event's samples are marked by the pass every flush makes, so
   * one loop runs hot, not a second one over the few flushes with events.
   */
  #flush(limitHi: number, limitLo: number): void {
    if (limitHi === 0 && limitLo === 0) return;
    for (const q of takeDue(this.#events, limitHi, limitLo)) {
      this.#markDue(Number(q.time >> 32n), Number(q.time & 0xffffffffn), q.seq);
      this.#eventBytes -= q.bytes;
      this.#event(q.record);
    }
    this.#markDue(limitHi, limitLo, Number.POSITIVE_INFINITY);
    if (this.#size() === 0) this.#t[LAST_HI] = -1;
  }

  /** Marks the queued samples before (`limitHi`:`limitLo`, `limitSeq`) in time, then arrival, and keeps the rest in order. */
  #markDue(limitHi: number, limitLo: number, limitSeq: number): void {
    const q = this.#q;
    const end = 6 * this.#queued;
    let kept = 0;
    for (let k = 0; k < end; k += 6) {
      const hi = q[k]!;
      const lo = q[k + 1]!;
      const ipHi = q[k + 2]!;
      const ipLo = q[k + 3]!;
      const pid = q[k + 4]!;
      const seq = q[k + 5]!;
      // Written whether kept or not (a kept one overwrites it next), so every access has run before the loop is optimised.
      q[kept] = hi;
      q[kept + 1] = lo;
      q[kept + 2] = ipHi;
      q[kept + 3] = ipLo;
      q[kept + 4] = pid;
      q[kept + 5] = seq;
      if (hi > limitHi || (hi === limitHi && (lo > limitLo || (lo === limitLo && seq > limitSeq)))) kept += 6;
      else this.#mark(pid, ipHi, ipLo, hi, lo);
    }
    this.#queued = kept / 6;
  }

  #user(raw: RawRecord): void {
    const r = this.#session.parse(raw);
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

  /** Marks the dso a sample's IP fell in (`pid` {@link NO_PID}: none; `timeHi` 2^32: no time). */
  #mark(pid: number, hi: number, lo: number, timeHi: number, timeLo: number): void {
    if (pid === NO_PID) return;
    const slot =
      Math.imul(hi ^ Math.imul(lo >>> 16, 0x9e3779b1) ^ Math.imul(pid, 0x85ebca6b), 0xc2b2ae35) >>> (32 - CACHE_BITS);
    const r = this.#cacheRange;
    const at = 6 * slot;
    if (
      this.#cacheGen[slot] === this.#generation &&
      this.#cachePid[slot] === pid &&
      !before(hi, lo, r[at]!, r[at + 1]!) &&
      before(hi, lo, r[at + 2]!, r[at + 3]!) &&
      !before(timeHi, timeLo, r[at + 4]!, r[at + 5]!)
    ) {
      const request = this.#cacheRequest[slot]!;
      if (request >= 0) this.hits.add(request);
      return;
    }
    this.#lookup(pid, hi, lo, timeHi, timeLo, slot);
  }

  /** Looks up one sample's IP, notes its dso's hit, and caches the mapping where it holds for later samples. */
  #lookup(pid: number, hi: number, lo: number, timeHi: number, timeLo: number, slot: number): void {
    this.#words[HI] = hi;
    this.#words[LO] = lo;
    const time = timeHi < TWO_32 ? bigOf(timeHi, timeLo) : undefined;
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
    const mapping = this.#out.mapping[0]!;
    let since = space.bornAt;
    if (mapping.since > since) since = mapping.since;
    const r = this.#cacheRange;
    const at = 6 * slot;
    let i = 0;
    for (const v of [mapping.start, mapping.end, since]) {
      r[at + i++] = Number(v >> 32n);
      r[at + i++] = Number(v & 0xffffffffn);
    }
    this.#cacheGen[slot] = this.#generation;
    this.#cachePid[slot] = pid;
    this.#cacheRequest[slot] = request ?? -1;
  }
}

function bitCount(v: number): number {
  let n = 0;
  for (; v !== 0; v &= v - 1) n++;
  return n;
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
  let collector: Collector | undefined;
  const tableFirst = source instanceof Uint8Array || (typeof Blob !== "undefined" && source instanceof Blob);
  let withHits = options.withHits ?? false;
  let readRecords = true;
  await stream.scan((session) => {
    // perf decides before it reads a record: in pipe mode no feature is known yet.
    const features = session.mode === "file" ? session.features : [];
    if (session.mode === "file" && features.includes(FEATURE_AUXTRACE)) withHits = false;
    if (!features.includes(Feature.BUILD_ID)) withHits = true;
    readRecords = withHits || session.mode === "pipe";
    if (readRecords) {
      collector = new Collector(session);
      return collector;
    }
    // From bytes or a Blob a file's table is read before its records, which then need not be read at all.
    return tableFirst ? undefined : IGNORE;
  });
  collector?.finish();
  const session = stream.session!;
  const lists = new Map<number, DsoList>([[KERNEL_PID, new DsoList()]]);
  const table: Request[] =
    session.mode === "file" ? session.buildIds.map((entry) => ({ kind: "table", entry }) as const) : [];
  const dsos: (Dso | undefined)[] = [];
  for (const request of [...table, ...(collector?.requests ?? [])]) {
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
  for (const i of collector?.hits ?? []) {
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
