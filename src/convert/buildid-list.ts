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
import type { OrderOptions } from "../perf/order.js";
import { type PerfDataSource, PerfDataStream, type PerfReadOptions, type PerfSession } from "../perf/reader.js";
import type { PerfRecord, RawRecord } from "../perf/records.js";
import type { RecordSink } from "../perf/splitter.js";
import { AddressSpaces, KERNEL_PID, LookupResults, LookupStatus } from "../spaces/index.js";
import { HI, LO } from "../spaces/layout.js";
import { type Dso, DsoList } from "./dsos.js";
import { CPUMODE_KERNEL, SpaceFeed } from "./feed.js";
import { type HitsExports, instantiateHits } from "./hits-wasm.js";

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
  /** The queue's bounds, as the converter's `order` option (perf's half flush past them). */
  order?: OrderOptions;
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
// windows.ts's constants, not imported: the converter's windows stay off this path.
/** 2^64 - 1, a time perf delivers at once. */
const U64_MAX = 0xffffffffffffffffn;
/** The queue's default bounds: records queued, and their bytes. */
const MAX_QUEUED = 250_000;
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/** The dso id perf's `map__new` is given: device, inode and generation, or the build ID's bytes read as those fields. */
function dsoId(r: PerfRecord): string {
  if (r.kind !== "mmap2") return "";
  const id = r.identity;
  // A build ID of 0 bytes reads as fields all 0: perf's empty id, which matches any.
  if (id.kind === "build-id") return id.buildId === "" ? "" : `b${id.buildId.length / 2}:${id.buildId}`;
  if (id.maj === 0 && id.min === 0 && id.ino === 0n && id.inoGeneration === 0n) return "";
  return `${id.maj}:${id.min}:${id.ino}:${id.inoGeneration}`;
}

/** A sample that marks nothing (a cpumode other than the kernel's or user space's, or no pid). */
const NO_PID = -2;

interface Queued {
  time: bigint;
  seq: number;
  record: PerfRecord;
  bytes: number;
}

/**
 * Reads the records for the dsos their maps make and the hits of their samples. Samples are read straight
 * from the record's bytes (pid, time, IP: no call chain, no object) by the chain in WebAssembly
 * (./hits-wasm.ts), which queues them ordered as the converter's {@link RoundWindows} order samples (perf's
 * rounds, its half flush past the same bounds) and marks each through the address-space model, remembering
 * per pid and 64 KiB of addresses the mapping it found while no event changes a space. The events stay here,
 * queued by time, and are delivered when the chain asks.
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
  /** Whether records are taken in input order: decided at the first kernel record or sample (see {@link Collector.#order}). */
  #inputOrder: boolean | undefined;
  readonly #w: HitsExports;
  /** The chain's window: its address and its bytes. */
  readonly #window: number;
  readonly #windowBytes: number;
  #memory: Uint8Array;
  #view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  /** The plan the chain reads samples with (undefined: it leaves them to {@link Collector.sample}). */
  #configured: ParsePlan | undefined;
  /** The last sample's plan and the byte offsets in its samples of the IP, TID and TIME (-1: absent) and the bytes they need. */
  #plan: ParsePlan | undefined;
  #fields = new Int32Array(4);
  readonly #events: Queued[] = [];
  #eventBytes = 0;

  constructor(session: PerfSession, order: OrderOptions = {}) {
    this.#session = session;
    this.#w = instantiateHits({
      deliver: () => this.#deliver(),
      miss: (pid, ipHi, ipLo, timeHi, timeLo, hasTime, slot) =>
        this.#lookup(pid, ipHi, ipLo, timeHi, timeLo, hasTime, slot),
    });
    this.#window = this.#w.init();
    this.#windowBytes = this.#w.WINDOW.value;
    this.#w.bounds(order.maxQueuedEvents ?? MAX_QUEUED, order.maxQueuedBytes ?? MAX_QUEUED_BYTES);
    this.#memory = new Uint8Array(this.#w.memory.buffer);
    this.#configure(false);
  }

  /**
   * perf takes records in input order when they lack sample_id_all: it cannot order them. Decided as the
   * converter's windows decide it, at the first kernel record or sample (in pipe mode the attributes arrive
   * as records before them).
   */
  #order(): boolean {
    if (this.#inputOrder === undefined) {
      this.#inputOrder = this.#session.attrs[0]?.sampleIdAll === false;
      this.#configure(true);
    }
    return this.#inputOrder;
  }

  /** Gives the chain the layout of samples when one attribute lays them all out and the order is decided (again when `changed`). */
  #configure(changed: boolean): void {
    const plans = this.#session.attrSet.plans;
    const plan = plans.length === 1 ? plans[0] : undefined;
    if (plan === this.#configured && !changed) return;
    this.#configured = plan;
    const f = plan === undefined ? undefined : this.#fieldsOf(plan);
    // Until the order is decided the chain takes no sample: the first one comes to Collector.sample, which decides it.
    this.#w.configure(
      f !== undefined && this.#inputOrder !== undefined,
      this.#session.littleEndian,
      f?.[0] ?? -1,
      f?.[1] ?? -1,
      f?.[2] ?? -1,
      f?.[3] ?? 0,
      this.#inputOrder ?? false,
    );
  }

  /** @internal A record other than a sample, in input order. */
  record(raw: RawRecord): void {
    this.#configure(false);
    if (raw.type >= USER_TYPE_START) {
      if (raw.type === RecordType.HEADER_BUILD_ID) this.#user(raw);
      else if (raw.type === RecordType.FINISHED_ROUND) this.#w.round();
      return;
    }
    const record = this.#session.parse(raw);
    const time = record.time;
    if (this.#order() || time === undefined || time === 0n || time === U64_MAX) {
      this.#event(record);
      return;
    }
    const seq = this.#w.queueEvent(Number(time >> 32n), Number(time & 0xffffffffn), raw.size);
    this.#eventBytes += raw.size;
    const events = this.#events;
    let i = events.length;
    while (i > 0 && events[i - 1]!.time > time) i--;
    events.splice(i, 0, { time, seq, record, bytes: raw.size });
    this.#told();
  }

  /** @internal Whole samples of `bytes` from `at` to `end`, copied into the chain's window a window at a time. */
  samples(bytes: Uint8Array, at: number, end: number): number {
    const w = this.#w;
    let p = at;
    for (;;) {
      const to = Math.min(end, p + this.#windowBytes);
      if (to - p < 8) return p;
      if (this.#memory.buffer !== w.memory.buffer) this.#memory = new Uint8Array(w.memory.buffer);
      this.#memory.set(bytes.subarray(p, to), this.#window);
      p += w.scan(this.#window, this.#window + to - p) - this.#window;
      // Cut at the window's end: the next window starts with that record.
      if (w.cut.value === 0 || to === end) return p;
    }
  }

  /** @internal A sample the chain left to JavaScript: its body is `length` bytes of `bytes.buffer` from `b`. */
  sample(bytes: Uint8Array, b: number, length: number, misc: number, offset: number, compressed: boolean): void {
    const session = this.#session;
    if (this.#inputOrder === undefined) this.#order();
    const view = bytes.buffer === this.#view.buffer ? this.#view : this.#viewOf(bytes);
    const le = session.littleEndian;
    const plan = session.attrSet.planFor(RecordType.SAMPLE, view, b, length, le, offset);
    const f = plan === this.#plan ? this.#fields : this.#fieldsOf(plan);
    let pid = NO_PID;
    let ipHi = 0;
    let ipLo = 0;
    let timeHi = 0;
    let timeLo = 0;
    let hasTime = false;
    if (length >= f[3]!) {
      if (f[1]! >= 0) pid = view.getInt32(b + f[1]!, le);
      if (f[0]! >= 0) {
        ipHi = view.getUint32(b + f[0]! + (le ? 4 : 0), le);
        ipLo = view.getUint32(b + f[0]! + (le ? 0 : 4), le);
      }
      if (f[2]! >= 0) {
        hasTime = true;
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
          hasTime = true;
          timeHi = Number(s.time >> 32n);
          timeLo = Number(s.time & 0xffffffffn);
        }
      }
    }
    this.#w.take(pid, misc & Misc.CPUMODE_MASK, ipHi, ipLo, timeHi, timeLo, hasTime);
  }

  /** Delivers everything (perf's final flush, at the end of the input). */
  finish(): void {
    this.#w.finish();
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

  /** Tells the chain what the event queue holds: its length, bytes and earliest event. */
  #told(): void {
    const first = this.#events[0];
    const time = first?.time ?? 0n;
    this.#w.setEvents(
      this.#events.length,
      this.#eventBytes,
      Number(time >> 32n),
      Number(time & 0xffffffffn),
      first?.seq ?? 0,
    );
  }

  /** Delivers the earliest queued event (the chain has marked the samples before it). */
  #deliver(): void {
    const q = this.#events.shift()!;
    this.#eventBytes -= q.bytes;
    this.#told();
    this.#event(q.record);
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
    if (event !== undefined) this.#w.changed();
    if (r.kind !== "mmap" && r.kind !== "mmap2") return;
    // perf makes (or finds) the dso of a map the model does not take, an empty one too, and takes its build ID.
    const buildId = r.kind === "mmap2" && r.identity.kind === "build-id" ? r.identity.buildId : "";
    const flags = r.kind === "mmap2" ? r.flags : 0;
    const prot = r.kind === "mmap2" ? r.prot : 0;
    const index = this.requests.length;
    if ((r.misc & Misc.CPUMODE_MASK) === CPUMODE_KERNEL)
      this.requests.push({ kind: "kernel", path: r.filename, buildId });
    else if (jitNamed(r.filename, flags) && prot & PROT_EXEC) {
      this.requests.push({ kind: "user", name: jitName(r.pid), id: dsoId(r), buildId });
      if (event !== undefined) this.#byJit.set(r.pid, index);
      return;
    } else this.requests.push({ kind: "user", name: r.filename, id: dsoId(r), buildId });
    if (event?.type !== "map") return;
    const found = this.#spaces.lookup(event.pid, event.start, event.time);
    if (found.ok) this.#byFile.set(found.fileId, index);
  }

  /** Looks up one sample's IP the chain's cache could not answer, notes its dso's hit, and caches the mapping where it holds. */
  #lookup(pid: number, hi: number, lo: number, timeHi: number, timeLo: number, hasTime: number, slot: number): void {
    this.#words[HI] = hi;
    this.#words[LO] = lo;
    const time = hasTime ? (BigInt(timeHi) << 32n) | BigInt(timeLo) : undefined;
    const space = this.#spaces.lookupMany(pid, this.#addresses, this.#out, time);
    const status = this.#out.status[0];
    const request =
      status === LookupStatus.OK
        ? this.#byFile.get(this.#out.fileId[0]!)
        : status === LookupStatus.ANONYMOUS && space !== undefined
          ? this.#byJit.get(space.pid)
          : undefined;
    if (request !== undefined) this.hits.add(request);
    // The answer holds for later samples only in the pid's newest, live space, and for a mapping that stays
    // (a cached answer marks nothing again: its dso was marked here).
    if (status !== LookupStatus.OK && status !== LookupStatus.ANONYMOUS) return;
    if (space === undefined || space.endedAt !== undefined || this.#spaces.space(pid) !== space) return;
    const mapping = this.#out.mapping[0]!;
    if (mapping.end <= mapping.start) return;
    let since = space.bornAt;
    if (mapping.since > since) since = mapping.since;
    const last = mapping.end - 1n;
    this.#w.fill(
      slot,
      pid,
      Number(mapping.start >> 32n),
      Number(mapping.start & 0xffffffffn),
      Number(last >> 32n),
      Number(last & 0xffffffffn),
      Number(since >> 32n),
      Number(since & 0xffffffffn),
    );
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
      collector = new Collector(session, options.order);
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
