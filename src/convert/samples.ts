/**
 * Samples resolved against the address spaces at their time and aggregated as they come: each frame
 * becomes a location (a file and the offset in it, or an unresolved address), each sample adds to its
 * process's stack and to the count of the file its IP lies in. Nothing per sample is kept.
 *
 * The call chain is read as perf reads it (`thread__resolve_callchain_sample`): entries are user frames
 * until a `PERF_CONTEXT_*` marker says otherwise, kernel frames resolve in the kernel's space, a marker
 * perf does not know discards the chain (the sample keeps its IP), and every frame after the first is a
 * return address, so it is looked up and kept as `address - 1`, inside the call, as pprof expects.
 *
 * @module
 */
import {
  type AddressSpace,
  type AddressSpaces,
  type FileRef,
  KERNEL_PID,
  LookupResults,
  LookupStatus,
  type Mapping,
} from "../spaces/index.js";
import { HI, LO } from "../spaces/layout.js";
import { CPUMODE_KERNEL, CPUMODE_USER } from "./feed.js";
import { LocationTable, StackTable } from "./intern.js";
import { HAS_IP, HAS_PID, HAS_TIME, HEADER_WORDS, W } from "./sample-arena.js";
import { StackCache } from "./stack-cache.js";

/** Why a frame (or a sample, by its IP) has no file: the model's lookup failures and the converter's own. */
export type FrameFailure =
  | "no-process"
  | "exited"
  | "no-mapping"
  | "anonymous"
  | "changed"
  | "incomplete"
  /** The kernel dropped records (PERF_RECORD_LOST) between the mapping's event and the sample: it may have changed unseen. */
  | "lost-events"
  /** A hypervisor, guest or unknown CPU mode: not the host's spaces. */
  | "not-host"
  /** The sample has no IP or no process ID (its `sample_type` lacks them). */
  | "no-ip";

const FAILURE_OF_STATUS: readonly FrameFailure[] = [
  "no-process",
  "no-process",
  "exited",
  "no-mapping",
  "anonymous",
  "changed",
  "incomplete",
];

/** The most frames a sample can have: a record is at most 64 KiB. */
const MAX_FRAMES = 8192;

const CTX_USER = 0;
const CTX_KERNEL = 1;
const CTX_OTHER = 2;

const MARK_HI = 0xffffffff;
/** Low words of `PERF_CONTEXT_MAX` and of the three markers perf reads (HV -32, KERNEL -128, USER -512). */
const MARK_MIN_LO = 0xfffff001;
const HV_LO = 0xffffffe0;
const KERNEL_LO = 0xffffff80;
const USER_LO = 0xfffffe00;

/** Tag of an unresolved kernel frame; an unresolved user frame's tag is `UNRESOLVED | process index`. */
const UNRESOLVED_KERNEL = 0xffffffff;
const UNRESOLVED = 0x80000000;

/** A file that a frame resolved into: the first mapping of it seen. */
export interface SeenFile {
  /** The model's id for it. */
  readonly fileId: number;
  /** Its identity, as the mapping gave it. */
  readonly file: FileRef;
  /** The path it was mapped under. */
  readonly path: string;
  /** A process that mapped it ({@link KERNEL_PID} for the kernel's files). */
  readonly pid: number;
  /** Samples whose IP lies in it (filled in by {@link SampleAggregator.tally}). */
  samples: number;
  /** Their periods' sum. */
  period: number;
}

/** A process as samples saw it: one address space (a pid's program between fork or exec and exit), or a pid with none. */
export interface SeenProcess {
  /** Process ID. */
  readonly pid: number;
  /** Its space, when the model had one at the sample's time. */
  readonly space: AddressSpace | undefined;
  /** Samples of it (filled in by {@link SampleAggregator.tally}). */
  samples: number;
  /** Their periods' sum. */
  period: number;
  /** Per file id, its samples whose IP lies in the file and their periods. */
  readonly files: Map<number, { samples: number; period: number }>;
  /** Per reason, its samples whose IP resolved to no file. */
  readonly unresolved: Map<FrameFailure, number>;
}

/** Bounds on what the aggregation holds. */
export interface AggregateLimits {
  /** Distinct stacks (a process and its frames): default 4,194,304. */
  maxStacks: number;
  /** Frames over all distinct stacks: default 67,108,864 (256 MiB of ids). */
  maxStackFrames: number;
  /** Distinct locations: default 4,194,304. */
  maxLocations: number;
}

/** The default {@link AggregateLimits}. */
export const DEFAULT_AGGREGATE_LIMITS: Readonly<AggregateLimits> = Object.freeze({
  maxStacks: 1 << 22,
  maxStackFrames: 1 << 26,
  maxLocations: 1 << 22,
});

/** Samples and frames counted by outcome. */
export interface FrameCounts {
  /** Samples aggregated. */
  samples: number;
  /** Their periods' sum. */
  period: number;
  /** Frames looked up, leaves included. */
  frames: number;
  /** Frames that resolved into a file. */
  framesResolved: number;
  /** Per reason, frames that did not. */
  framesUnresolved: Map<FrameFailure, number>;
  /** Call chains perf would discard (an unknown `PERF_CONTEXT_*` marker); their samples keep their IP. */
  badChains: number;
}

/** Indices of {@link SampleAggregator}'s times. */
const T = { TIME_HI: 0, TIME_LO: 1, BORN_HI: 2, BORN_LO: 3 } as const;

/** log2 of the frame cache's slots. */
const CACHE_BITS = 14;
const TWO_32 = 4294967296;

/** Failures by the code the frame cache keeps (0: none). */
const FAILURES: readonly (FrameFailure | undefined)[] = [
  undefined,
  "no-mapping",
  "anonymous",
  "incomplete",
  "lost-events",
];
/** The code of lost-events: cached, it holds from the loss on. */
const LOST = 4;
/** Past every time. */
const NEVER = 1n << 64n;
/** Per lookup status, whether its answer holds for any later time while no event changes a space. */
const CACHED: readonly boolean[] = [true, false, false, true, true, false, true];

/** The frame cache's slot for an address in a space. */
function slotOf(tag: number, hi: number, lo: number): number {
  return Math.imul(hi ^ Math.imul(lo, 0x9e3779b1) ^ Math.imul(tag, 0x85ebca6b), 0xc2b2ae35) >>> (32 - CACHE_BITS);
}

/** `a < b` for times as (high, low) words. */
function before(aHi: number, aLo: number, bHi: number, bLo: number): boolean {
  return aHi < bHi || (aHi === bHi && aLo < bLo);
}

/** A sample's time as a bigint, from its words (one allocation below 2^53 ns). */
function timeOf(hi: number, lo: number): bigint {
  return hi < 0x200000 ? BigInt(hi * TWO_32 + lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * Aggregates samples into stacks of locations, per process; see the module comment. A direct-mapped
 * cache remembers each (space, address) a lookup resolved, valid while no event has changed any space
 * (the caller's `generation`) and for samples no older than the mapping.
 */
export class SampleAggregator {
  /** The locations. */
  readonly locations: LocationTable;
  /** The stacks. */
  readonly stacks: StackTable;
  /** Processes by index (the index a stack's `procs` entry holds). */
  readonly processes: SeenProcess[] = [];
  /** Files frames resolved into, by the model's file id. */
  readonly files = new Map<number, SeenFile>();
  /** Counters. */
  readonly counts: FrameCounts = {
    samples: 0,
    period: 0,
    frames: 0,
    framesResolved: 0,
    framesUnresolved: new Map(),
    badChains: 0,
  };
  /** Bumped by the caller whenever an event changes the address spaces: cached lookups expire. */
  generation = 0;
  readonly #spaces: AddressSpaces;
  readonly #processIndex = new Map<AddressSpace | number, number>();
  readonly #addresses = new BigUint64Array(MAX_FRAMES);
  readonly #words = new Uint32Array(this.#addresses.buffer);
  readonly #contexts = new Uint8Array(MAX_FRAMES);
  readonly #out = new LookupResults(MAX_FRAMES);
  readonly #locs = new Int32Array(MAX_FRAMES);
  /** Times of PERF_RECORD_LOST records, ascending. */
  readonly #lost: bigint[] = [];
  #leafFailure: FrameFailure | undefined;
  #lastSpace: AddressSpace | number | undefined;
  #lastProcess = -1;
  // The current sample's time as words (high 2^32 for none; in a typed array, as u32 words past 2^31 in
  // fields would change the object's shape) and, once made, its bigint; then the birth of #space.
  readonly #t = new Float64Array(4);
  #time: bigint | undefined;
  // The last space a lookup chose (see #spaceOf).
  #space: AddressSpace | undefined;
  #spacePid = -1;
  #spaceGeneration = -1;
  // The frame cache: key (space tag, address), the generation it was filled in, the location, the mapping's time.
  readonly #cacheTag = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheHi = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheLo = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheGen = new Int32Array(1 << CACHE_BITS).fill(-1);
  readonly #cacheLoc = new Int32Array(1 << CACHE_BITS);
  readonly #cacheSinceHi = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheSinceLo = new Uint32Array(1 << CACHE_BITS);
  readonly #cacheFailure = new Uint8Array(1 << CACHE_BITS);
  // The first loss after the mapping's time (high 2^32: none).
  readonly #cacheUntilHi = new Float64Array(1 << CACHE_BITS);
  readonly #cacheUntilLo = new Uint32Array(1 << CACHE_BITS);
  // Frames the cache missed: their indices, and their addresses packed for one lookup.
  readonly #missed = new Int32Array(MAX_FRAMES);
  readonly #missAddresses = new BigUint64Array(MAX_FRAMES);
  readonly #missWords = new Uint32Array(this.#missAddresses.buffer);
  readonly #known = new StackCache();
  /** A known stack's frames, failed frames and failure codes ({@link StackCache.find}). */
  readonly #knownFrames = new Int32Array(3);
  /** The sample's failed frames: how many, their {@link FAILURES} code, 1 if a repeat could not replay them. */
  readonly #fails = new Int32Array(3);
  /** A mapping and its `since` as words. */
  #sinceMapping: Mapping | undefined;
  readonly #sinceWords = new Uint32Array(2);
  /** The latest time any mapping or space the current sample resolved through began, as (high, low) words. */
  readonly #since = new Uint32Array(2);

  /** @param spaces the model samples resolve against; @param limits bounds */
  constructor(spaces: AddressSpaces, limits: Partial<AggregateLimits> = {}) {
    const l = { ...DEFAULT_AGGREGATE_LIMITS, ...limits };
    this.#spaces = spaces;
    this.locations = new LocationTable(l.maxLocations);
    this.stacks = new StackTable(l.maxStacks, l.maxStackFrames);
  }

  /** Notes a PERF_RECORD_LOST at `time`: mappings older than it are no longer trusted for later samples. */
  lost(time: bigint): void {
    const lost = this.#lost;
    let i = lost.length;
    while (i > 0 && lost[i - 1]! > time) i--;
    lost.splice(i, 0, time);
    this.generation++;
  }

  /** Adds the sample whose record starts at `at` in `w` (a {@link SampleArena}'s words; `ints`, the same as int32s). */
  add(w: Uint32Array, ints: Int32Array, at: number): void {
    const misc = w[at + W.MISC]!;
    const period = w[at + W.PERIOD_HI]! * TWO_32 + w[at + W.PERIOD_LO]!;
    const counts = this.counts;
    counts.samples++;
    counts.period += period;
    const hasTime = (misc & HAS_TIME) !== 0;
    const timeHi = hasTime ? w[at + W.TIME_HI]! : TWO_32;
    const timeLo = hasTime ? w[at + W.TIME_LO]! : 0;
    this.#t[T.TIME_HI] = timeHi;
    this.#t[T.TIME_LO] = timeLo;
    this.#time = undefined;
    const pid = misc & HAS_PID ? w[at + W.PID]! | 0 : -1;
    const known = pid >= 0 && this.#lost.length === 0;
    if (known) {
      const stack = this.#known.find(ints, at, this.generation, timeHi, timeLo, this.#knownFrames);
      if (stack >= 0) {
        const known = this.#knownFrames;
        const frames = known[0]!;
        const failed = known[1]!;
        counts.frames += frames;
        counts.framesResolved += frames - failed;
        if (failed > 0) this.#replayFailures(stack, period, frames, failed, known[2]!);
        this.stacks.count(stack, period);
        return;
      }
    }
    this.#addNew(w, ints, at, misc, period, pid, known, timeHi, timeLo);
  }

  /** {@link add} past the stack cache. Apart: V8 compiles each path smaller (compiling costs a short recording most). */
  #addNew(
    w: Uint32Array,
    ints: Int32Array,
    at: number,
    misc: number,
    period: number,
    pid: number,
    known: boolean,
    timeHi: number,
    timeLo: number,
  ): void {
    const counts = this.counts;
    const badChains = counts.badChains;
    const n = this.#frames(w, at, misc);
    const space = pid >= 0 ? this.#spaceOf(pid, timeHi, timeLo) : undefined;
    const proc = this.#process(pid, space);
    this.#leafFailure = n === 0 ? "no-ip" : undefined;
    this.#since[HI] = this.#t[T.BORN_HI]!;
    this.#since[LO] = this.#t[T.BORN_LO]!;
    const fails = this.#fails;
    fails[0] = 0;
    fails[1] = 0;
    fails[2] = 0;
    const contexts = this.#contexts;
    let from = 0;
    while (from < n) {
      const ctx = contexts[from]!;
      let to = from + 1;
      while (to < n && contexts[to] === ctx) to++;
      this.#resolve(ctx, space !== undefined, pid, timeHi, timeLo, from, to, proc);
      from = to;
    }
    if (n === 0) {
      this.#countLeafFailure(proc, period);
      return;
    }
    const stack = this.stacks.add(proc, this.#locs, n, period);
    // Every frame resolved or failed as the frame cache keeps it, in the live space #spaceOf keeps: the same words resolve the same way.
    if (known && space === this.#space && fails[2] === 0 && counts.badChains === badChains) {
      const leaf = this.#leafFailure === undefined ? 0 : FAILURES.indexOf(this.#leafFailure);
      const codes = fails[1]! | (leaf << 4);
      this.#known.remember(ints, at, stack, n, fails[0]!, codes, this.generation, this.#since[HI]!, this.#since[LO]!);
    }
    this.#countLeafFailure(proc, period, n);
  }

  /** Counts a known stack's `failed` frames (failure and leaf codes in `codes`) for one more sample. */
  #replayFailures(stack: number, period: number, frames: number, failed: number, codes: number): void {
    this.#failed(FAILURES[codes & 15]!, failed, false, codes & 15);
    this.#leafFailure = FAILURES[codes >> 4];
    this.#countLeafFailure(this.stacks.procs[stack]!, period, frames);
  }

  /** Counts the sample's leaf failure, if any, for its process (which gets the sample itself when it has no frames). */
  #countLeafFailure(proc: number, period: number, n = 0): void {
    if (this.#leafFailure !== undefined) {
      const p = this.processes[proc]!;
      p.unresolved.set(this.#leafFailure, (p.unresolved.get(this.#leafFailure) ?? 0) + 1);
      if (n === 0) {
        p.samples++;
        p.period += period;
      }
    }
  }

  /** Takes `(hi, lo)` into the current sample's {@link #since} if later. */
  #sinceAtLeast(hi: number, lo: number): void {
    const since = this.#since;
    if (before(since[HI]!, since[LO]!, hi, lo)) {
      since[HI] = hi;
      since[LO] = lo;
    }
  }

  /** The current sample's time as a bigint, made on first use (most samples need none: the caches answer them). */
  #sampleTime(): bigint | undefined {
    if (this.#time === undefined && this.#t[T.TIME_HI]! < TWO_32)
      this.#time = timeOf(this.#t[T.TIME_HI]!, this.#t[T.TIME_LO]!);
    return this.#time;
  }

  /**
   * `pid`'s space at the sample's time. The last answer is reused while no event changed a space, it was
   * the pid's newest and live, and the sample is not older than its birth: the model would answer the same.
   */
  #spaceOf(pid: number, timeHi: number, timeLo: number): AddressSpace | undefined {
    const cached = this.#space;
    if (
      cached !== undefined &&
      pid === this.#spacePid &&
      this.generation === this.#spaceGeneration &&
      !before(timeHi, timeLo, this.#t[T.BORN_HI]!, this.#t[T.BORN_LO]!)
    )
      return cached;
    const space = this.#spaces.lookupMany(pid, this.#addresses, this.#out, this.#sampleTime(), 0, 0);
    this.#space = undefined;
    if (space !== undefined && space.endedAt === undefined && this.#spaces.space(pid) === space) {
      this.#space = space;
      this.#spacePid = pid;
      this.#spaceGeneration = this.generation;
      this.#t[T.BORN_HI] = Number(space.bornAt >> 32n);
      this.#t[T.BORN_LO] = Number(space.bornAt & 0xffffffffn);
    }
    return space;
  }

  /** Fills the frame arrays from the call chain (or the IP); returns how many frames. */
  #frames(w: Uint32Array, at: number, misc: number): number {
    const words = this.#words;
    const contexts = this.#contexts;
    const nr = w[at + W.NR]!;
    const chain = at + HEADER_WORDS;
    let n = 0;
    let ctx = CTX_USER;
    for (let i = 0; i < nr && n < MAX_FRAMES; i++) {
      const hi = w[chain + 2 * i + HI]!;
      let lo = w[chain + 2 * i + LO]!;
      if (hi === MARK_HI && lo >= MARK_MIN_LO) {
        if (lo === KERNEL_LO) ctx = CTX_KERNEL;
        else if (lo === USER_LO) ctx = CTX_USER;
        else if (lo === HV_LO) ctx = CTX_OTHER;
        else {
          this.counts.badChains++;
          n = 0;
          break;
        }
        continue;
      }
      let h = hi;
      if (n > 0) {
        if (lo === 0) h = (hi - 1) >>> 0;
        lo = (lo - 1) >>> 0;
      }
      words[2 * n + HI] = h;
      words[2 * n + LO] = lo;
      contexts[n] = ctx;
      n++;
    }
    if (n > 0 || !(misc & HAS_IP)) return n;
    words[HI] = w[at + W.IP_HI]!;
    words[LO] = w[at + W.IP_LO]!;
    const mode = misc & 7;
    contexts[0] = mode === CPUMODE_KERNEL ? CTX_KERNEL : mode === CPUMODE_USER ? CTX_USER : CTX_OTHER;
    return 1;
  }

  /** Resolves frames `[from, to)` of one context, through the frame cache where it can. */
  #resolve(
    ctx: number,
    hasSpace: boolean,
    pid: number,
    timeHi: number,
    timeLo: number,
    from: number,
    to: number,
    proc: number,
  ): void {
    const words = this.#words;
    const locs = this.#locs;
    const counts = this.counts;
    counts.frames += to - from;
    if (ctx === CTX_OTHER || (ctx === CTX_USER && pid < 0)) {
      const tag = (UNRESOLVED | proc) >>> 0;
      for (let i = from; i < to; i++) locs[i] = this.locations.intern(tag, words[2 * i + HI]!, words[2 * i + LO]!);
      this.#failed(ctx === CTX_OTHER ? "not-host" : "no-process", to - from, from === 0, 0);
      return;
    }
    const spaceTag = ctx === CTX_KERNEL ? UNRESOLVED_KERNEL : proc;
    // Without a space the lookup says why (no process, exited); such answers depend on the time, so are not cached.
    const cacheable = ctx === CTX_KERNEL || hasSpace;
    const timed = timeHi < TWO_32;
    const gen = this.generation;
    const missed = this.#missed;
    const missWords = this.#missWords;
    let misses = 0;
    // Counted at once, before any other failure (a Map keeps first-seen order).
    let lostFrames = 0;
    for (let i = from; i < to; i++) {
      const hi = words[2 * i + HI]!;
      const lo = words[2 * i + LO]!;
      const slot = slotOf(spaceTag, hi, lo);
      if (
        cacheable &&
        this.#cacheGen[slot] === gen &&
        this.#cacheLo[slot] === lo &&
        this.#cacheHi[slot] === hi &&
        this.#cacheTag[slot] === spaceTag &&
        !before(timeHi, timeLo, this.#cacheSinceHi[slot]!, this.#cacheSinceLo[slot]!)
      ) {
        const failure = this.#cacheFailure[slot]!;
        const lostBy = timed && !before(timeHi, timeLo, this.#cacheUntilHi[slot]!, this.#cacheUntilLo[slot]!);
        if (failure === 0 ? !lostBy : failure !== LOST || lostBy) {
          locs[i] = this.#cacheLoc[slot]!;
          this.#sinceAtLeast(this.#cacheSinceHi[slot]!, this.#cacheSinceLo[slot]!);
          if (failure === 0) counts.framesResolved++;
          else if (failure === LOST && i !== 0) lostFrames++;
          else {
            lostFrames = this.#failedLost(lostFrames);
            this.#failed(FAILURES[failure]!, 1, i === 0, failure === LOST ? 0 : failure);
          }
          continue;
        }
      }
      missed[misses] = i;
      missWords[2 * misses + HI] = hi;
      missWords[2 * misses + LO] = lo;
      misses++;
    }
    this.#failedLost(lostFrames);
    if (misses > 0) this.#lookUp(ctx, cacheable, pid, proc, misses);
  }

  /** Looks up and caches the frames {@link #resolve} missed. */
  #lookUp(ctx: number, cacheable: boolean, pid: number, proc: number, misses: number): void {
    const locs = this.#locs;
    const counts = this.counts;
    const gen = this.generation;
    const missed = this.#missed;
    const missWords = this.#missWords;
    const spaceTag = ctx === CTX_KERNEL ? UNRESOLVED_KERNEL : proc;
    const time = this.#sampleTime();
    const out = this.#out;
    this.#spaces.lookupMany(ctx === CTX_KERNEL ? KERNEL_PID : pid, this.#missAddresses, out, time, 0, misses);
    const unresolvedTag = ctx === CTX_KERNEL ? UNRESOLVED_KERNEL : (UNRESOLVED | proc) >>> 0;
    const lost = this.#lost.length > 0 && time !== undefined;
    for (let m = 0; m < misses; m++) {
      const i = missed[m]!;
      const status = out.status[m]!;
      const mapping = out.mapping[m];
      let failure: FrameFailure | undefined;
      if (status !== LookupStatus.OK) failure = FAILURE_OF_STATUS[status]!;
      else if (lost && this.#firstLost(mapping!.since) <= time) failure = "lost-events";
      const hi = missWords[2 * m + HI]!;
      const lo = missWords[2 * m + LO]!;
      let loc: number;
      if (failure !== undefined) {
        loc = this.locations.intern(unresolvedTag, hi, lo);
        const code = FAILURES.indexOf(failure);
        this.#failed(failure, 1, i === 0, cacheable && CACHED[status] && code !== LOST ? code : 0);
      } else {
        const fileId = out.fileId[m]!;
        if (!this.files.has(fileId)) {
          const owner = ctx === CTX_KERNEL ? KERNEL_PID : pid;
          this.files.set(fileId, {
            fileId,
            file: mapping!.file,
            path: mapping!.path,
            pid: owner,
            samples: 0,
            period: 0,
          });
        }
        loc = this.locations.intern(fileId, out.offsetWords[2 * m + HI]!, out.offsetWords[2 * m + LO]!);
        counts.framesResolved++;
      }
      locs[i] = loc;
      if (!cacheable || !CACHED[status]) continue;
      const slot = slotOf(spaceTag, hi, lo);
      this.#cacheGen[slot] = gen;
      this.#cacheTag[slot] = spaceTag;
      this.#cacheHi[slot] = hi;
      this.#cacheLo[slot] = lo;
      this.#cacheLoc[slot] = loc;
      this.#cacheFailure[slot] = failure === undefined ? 0 : FAILURES.indexOf(failure);
      // Two bigints a split: once per mapping.
      if (mapping !== this.#sinceMapping) {
        const since = mapping?.since ?? 0n;
        this.#sinceMapping = mapping;
        this.#sinceWords[HI] = Number(since >> 32n);
        this.#sinceWords[LO] = Number(since & 0xffffffffn);
      }
      this.#cacheSinceHi[slot] = this.#sinceWords[HI]!;
      this.#cacheSinceLo[slot] = this.#sinceWords[LO]!;
      this.#sinceAtLeast(this.#sinceWords[HI]!, this.#sinceWords[LO]!);
      this.#cacheUntilHi[slot] = TWO_32;
      this.#cacheUntilLo[slot] = 0;
      if (this.#lost.length > 0 && mapping !== undefined) {
        const until = this.#firstLost(mapping.since);
        if (until < NEVER) {
          this.#cacheUntilHi[slot] = Number(until >> 32n);
          this.#cacheUntilLo[slot] = Number(until & 0xffffffffn);
        }
      }
    }
  }

  /** Counts `frames` lost-events frames; returns 0. */
  #failedLost(frames: number): number {
    if (frames > 0) this.#failed("lost-events", frames, false, 0);
    return 0;
  }

  /** Counts `frames` frames failed for `failure` (the leaf's if `leaf`); `code`: its {@link FAILURES} code if a repeat fails alike, else <= 0. */
  #failed(failure: FrameFailure, frames: number, leaf: boolean, code: number): void {
    const fails = this.#fails;
    if (code <= 0 || (fails[0]! > 0 && fails[1] !== code)) fails[2] = 1;
    fails[0] = fails[0]! + frames;
    fails[1] = code;
    const unresolved = this.counts.framesUnresolved;
    unresolved.set(failure, (unresolved.get(failure) ?? 0) + frames);
    if (leaf) this.#leafFailure = failure;
  }

  /** Fills in the sample counts of processes and files from the stacks; call once, after the last sample. */
  tally(): void {
    const { stacks, locations, processes } = this;
    for (let s = 0; s < stacks.size; s++) {
      const p = processes[stacks.procs[s]!]!;
      const samples = stacks.counts[s]!;
      const period = stacks.periods[s]!;
      p.samples += samples;
      p.period += period;
      const tag = locations.tags[stacks.arena[stacks.starts[s]!]!]!;
      if (!SampleAggregator.isFileTag(tag)) continue;
      const file = this.files.get(tag)!;
      file.samples += samples;
      file.period += period;
      const mine = p.files.get(tag);
      if (mine === undefined) p.files.set(tag, { samples, period });
      else {
        mine.samples += samples;
        mine.period += period;
      }
    }
  }

  /** The first PERF_RECORD_LOST at or after `since`, or {@link NEVER}. */
  #firstLost(since: bigint): bigint {
    const lost = this.#lost;
    let lo = 0;
    let hi = lost.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lost[mid]! < since) lo = mid + 1;
      else hi = mid;
    }
    return lost[lo] ?? NEVER;
  }

  #process(pid: number, space: AddressSpace | undefined): number {
    const key = space ?? pid;
    if (key === this.#lastSpace) return this.#lastProcess;
    let index = this.#processIndex.get(key);
    if (index === undefined) {
      index = this.processes.length;
      this.#processIndex.set(key, index);
      this.processes.push({ pid, space, samples: 0, period: 0, files: new Map(), unresolved: new Map() });
    }
    this.#lastSpace = key;
    this.#lastProcess = index;
    return index;
  }

  /** Whether a location's tag names a file (its id) rather than an unresolved frame. */
  static isFileTag(tag: number): boolean {
    return tag < UNRESOLVED;
  }
}
