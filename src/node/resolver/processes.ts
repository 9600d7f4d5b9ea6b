/**
 * When the resolver reads `/proc` for a process, and what it learnt: {@link ProcessTracker} keeps,
 * per process, when `/proc/PID/stat` last confirmed who it is and when its maps were last read,
 * reads them again when a bound has passed, and feeds every read to the address-space model
 * through {@link ProcFeed}. The bounds are the resolver's options:
 *
 * - `mapsMaxAgeMs`: `/proc/PID/stat` is read again (another start time is another process behind the
 *   PID, another exec layout another program: the maps are read again), and an address outside every
 *   mapping may re-read the maps, at most once per bound;
 * - `fileMaxAgeMs`: the maps are read again, so no answer rests on a read older than that.
 *
 * A process whose leader exited while its other threads run is read through one of those
 * ({@link Tracked.tid}): the zombie leader's maps read empty, and the process is not gone.
 *
 * @packageDocumentation
 */
import { AddressSpaces } from "../../spaces/index.js";
import { errorCode, isDenied, isGone } from "../errno.js";
import { ProcFeed, type ReadOutcome } from "../procfs/feed.js";
import { type Mapping, MapsParseError, type MapsRead, parseMapsAfter, readMapsTextSync } from "../procfs/maps.js";
import {
  HeldProcStat,
  type LiveProcess,
  ProcStatParseError,
  readLiveProcess,
  sameProcess,
  threadLives,
} from "../procfs/proc-stat.js";
import { FileTooLargeError, NotRegularFileError } from "../safe-open.js";
import type { FileResolution, ResolveFailure } from "./answers.js";

/** A process's check that failed: why, for the answers. */
export interface ProcessFailure {
  /** Why there is no answer. */
  reason: ResolveFailure;
  /** What exactly failed. */
  detail: string;
}

/** What the resolver holds for one process. */
export interface Tracked {
  /** When `/proc/PID/stat` last confirmed who the process is (resolver clock, ms). */
  statAt: number;
  /** The resolver's clock just before the maps were last read: the view dates from then. */
  readAt: number;
  /** The process was gone at the last check: its space ended at {@link endedAt} and its last maps are final. */
  gone: boolean;
  /** When the process was found gone, in the model's time. */
  endedAt: bigint;
  /** The vdso's build ID for this program, once asked. */
  vdso: Promise<FileResolution> | undefined;
  /** File checks that failed for this process alone (permission, missing), by file id, with when. */
  failures: Map<number, { file: FileResolution; at: number }>;
  /** The last read of the maps: a read of the same text is not parsed or fed again. */
  maps: MapsRead | undefined;
  /**
   * The thread whose `/proc` entries stand for the process: the PID itself, or, once the leader
   * has exited while other threads run, one of those ({@link LiveProcess.tid}).
   */
  tid: number;
  /** {@link tid}'s own start time. */
  threadStart: bigint;
}

/** Counters the tracker keeps in the resolver's stats. */
export interface TrackerCounts {
  refreshes: number;
  replaced: number;
  mapsReads: number;
  statReads: number;
}

/** The tracker's settings, from the resolver's options. */
export interface TrackerOptions {
  maxProcesses: number;
  mapsMaxAgeMs: number;
  fileMaxAgeMs: number;
  procRoot: string;
  now: () => number;
}

/** A procfs file that is not the kernel's: a FIFO, too large, or not parseable. */
function isBadProcfs(error: unknown): error is Error {
  return (
    error instanceof NotRegularFileError ||
    error instanceof FileTooLargeError ||
    error instanceof MapsParseError ||
    error instanceof ProcStatParseError
  );
}

/** `since` is at least `bound` ms before `now` (or after it: a clock that went back expires everything). */
export function expired(since: number, now: number, bound: number): boolean {
  return now - since >= bound || now < since;
}

/** Per process: when to read `/proc`, what was read; see the module comment. */
export class ProcessTracker {
  /** The model every read feeds. */
  readonly spaces: AddressSpaces;
  /** The feed, which also knows each model mapping's maps line. */
  readonly feed: ProcFeed;
  readonly #tracked = new Map<number, Tracked>();
  /** Processes whose last check failed (denied, bad procfs, gone before any read), answered so until the maps bound passes. */
  readonly #failed = new Map<number, ProcessFailure & { at: number }>();
  readonly #options: TrackerOptions;
  readonly #counts: TrackerCounts;
  readonly #stat: HeldProcStat;
  #lastTime = 0n;
  /** The thread the read being fed came through: the names of its new lines are settled through it. */
  #feeding = 0;

  /**
   * @param counts where to count reads and refreshes (the resolver's stats).
   * @param name the line kept for a mapping first seen (see {@link ProcFeed}).
   */
  constructor(options: TrackerOptions, counts: TrackerCounts, name: (tid: number, line: Mapping) => Mapping) {
    this.#options = options;
    this.#counts = counts;
    this.#stat = new HeldProcStat(options.procRoot);
    // The resolver never holds more live spaces than maxProcesses; ended ones (one per pid) go first.
    this.spaces = new AddressSpaces({ maxProcesses: Math.min(2 * options.maxProcesses, 2 ** 24), keepEnded: 1 });
    this.feed = new ProcFeed(this.spaces, (pid, line) => name(this.#feeding || pid, line));
  }

  /** How many processes are held. */
  get size(): number {
    return this.#tracked.size;
  }

  /**
   * `pid`'s state made current for a call at `now`: read for the first time, its identity checked
   * past `mapsMaxAgeMs`, its maps read again past `fileMaxAgeMs`; or why the process has no answer.
   */
  current(pid: number, now: number): Tracked | ProcessFailure {
    const { mapsMaxAgeMs, fileMaxAgeMs } = this.#options;
    const tracked = this.#tracked.get(pid);
    if (tracked === undefined) {
      const failed = this.#failed.get(pid);
      if (failed !== undefined && !expired(failed.at, now, mapsMaxAgeMs)) return failed;
      return this.#load(pid, now);
    }
    this.#touch(pid, tracked);
    if (expired(tracked.statAt, now, mapsMaxAgeMs)) {
      const live = this.#identity(pid, tracked.tid);
      if ("reason" in live) return this.#lost(pid, tracked, live, now);
      tracked.statAt = now;
      if (tracked.gone || !sameProcess(this.feed.identity(pid)!, live.identity)) {
        this.#counts.refreshes++;
        this.#counts.replaced++;
        return this.#read(pid, tracked, live);
      }
      this.#through(pid, tracked, live);
    }
    if (!tracked.gone && expired(tracked.readAt, now, fileMaxAgeMs)) return this.reread(pid, tracked, now);
    return tracked;
  }

  /** Reads `pid`'s maps again (and its identity, unless confirmed at `now`). */
  reread(pid: number, tracked: Tracked, now: number): Tracked | ProcessFailure {
    this.#counts.refreshes++;
    const identity = this.feed.identity(pid);
    let live: LiveProcess;
    if (identity === undefined || tracked.statAt !== now) {
      const read = this.#identity(pid, tracked.tid);
      if ("reason" in read) return this.#lost(pid, tracked, read, now);
      if (identity !== undefined && !sameProcess(identity, read.identity)) this.#counts.replaced++;
      live = read;
      tracked.statAt = now;
    } else live = { identity, tid: tracked.tid, threadStart: tracked.threadStart };
    return this.#read(pid, tracked, live);
  }

  /** Whether the thread `pid` is read through ({@link Tracked.tid}) is still the one that was (see `threadLives`). */
  readsThrough(pid: number, tracked: Tracked): boolean {
    if (tracked.tid === pid) return true;
    this.#counts.statReads++;
    return threadLives(pid, tracked, this.#options.procRoot, this.#stat);
  }

  /** Drops what is held for `pid`; its space in the model ends. */
  forget(pid: number): void {
    const tracked = this.#tracked.get(pid);
    if (this.#tracked.delete(pid)) this.feed.exited(pid, this.#time());
    this.#failed.delete(pid);
    this.#let(pid, tracked);
  }

  #load(pid: number, now: number): Tracked | ProcessFailure {
    const live = this.#identity(pid);
    if ("reason" in live) return this.#fail(pid, live, now);
    const tracked: Tracked = {
      statAt: now,
      readAt: now,
      gone: false,
      endedAt: 0n,
      vdso: undefined,
      failures: new Map(),
      maps: undefined,
      tid: live.tid,
      threadStart: live.threadStart,
    };
    const read = this.#read(pid, tracked, live);
    if ("reason" in read) return read;
    this.#failed.delete(pid);
    this.#touch(pid, tracked);
    return tracked;
  }

  /**
   * Reads the maps of the process `live` describes, through its thread, and feeds them. Empty maps
   * are a thread's that exited since its stat was read (the next live one is read instead), the
   * whole process's exit, or a process without memory (a kernel thread): the stats say which.
   */
  #read(pid: number, tracked: Tracked, live: LiveProcess): Tracked | ProcessFailure {
    const readAt = this.#options.now();
    const seenAt = Date.now();
    const emptied = new Set<number>();
    let read: MapsRead;
    for (;;) {
      this.#counts.mapsReads++;
      let text: string | undefined;
      try {
        text = readMapsTextSync(pid, this.#options.procRoot, live.tid);
        if (text !== "") {
          read = parseMapsAfter(text, tracked.maps);
          break;
        }
      } catch (error) {
        const failure = this.#procFailure(pid, "maps", error);
        if (live.tid === pid || failure.reason !== "exited") return this.#readFailed(pid, tracked, failure, readAt);
      }
      if (live.tid !== pid) {
        emptied.add(live.tid);
        this.#stat.close(live.tid);
      }
      const again = this.#identity(pid, pid, emptied);
      if ("reason" in again) return this.#readFailed(pid, tracked, again, readAt);
      if (text !== undefined && again.tid === live.tid) {
        read = parseMapsAfter(text, tracked.maps);
        break;
      }
      live = again;
    }
    let outcome: ReadOutcome;
    this.#feeding = live.tid;
    try {
      outcome = this.feed.read(pid, this.#time(), live.identity, read.mappings, seenAt);
    } finally {
      this.#feeding = 0;
    }
    tracked.maps = read;
    if (outcome !== "same") {
      tracked.vdso = undefined;
      tracked.failures.clear();
    }
    this.#through(pid, tracked, live);
    tracked.readAt = readAt;
    tracked.gone = false;
    return tracked;
  }

  /** `pid` is read through `live`'s thread from now on. */
  #through(pid: number, tracked: Tracked, live: LiveProcess): void {
    if (tracked.tid !== live.tid && tracked.tid !== pid) this.#stat.close(tracked.tid);
    tracked.tid = live.tid;
    tracked.threadStart = live.threadStart;
  }

  /** A read for `pid` failed: a held process that exited is {@link #lost}, anything else {@link #fail}s. */
  #readFailed(pid: number, tracked: Tracked, failure: ProcessFailure, at: number): Tracked | ProcessFailure {
    return failure.reason === "exited" && this.#tracked.has(pid)
      ? this.#lost(pid, tracked, failure, at)
      : this.#fail(pid, failure, at);
  }

  /** A held process whose check failed: gone, it keeps its last maps; otherwise it is dropped. */
  #lost(pid: number, tracked: Tracked, failure: ProcessFailure, now: number): Tracked | ProcessFailure {
    if (failure.reason !== "exited") return this.#fail(pid, failure, now);
    tracked.statAt = now;
    if (!tracked.gone) {
      tracked.gone = true;
      tracked.endedAt = this.#time();
      this.feed.exited(pid, tracked.endedAt);
    }
    return tracked;
  }

  #fail(pid: number, failure: ProcessFailure, now: number): ProcessFailure {
    const tracked = this.#tracked.get(pid);
    if (this.#tracked.delete(pid)) this.feed.exited(pid, this.#time());
    this.#let(pid, tracked);
    this.#failed.delete(pid);
    this.#failed.set(pid, { ...failure, at: now });
    if (this.#failed.size > this.#options.maxProcesses) this.#failed.delete(this.#failed.keys().next().value!);
    return failure;
  }

  /** Closes the stats held for `pid` and the thread it was read through. */
  #let(pid: number, tracked: Tracked | undefined): void {
    this.#stat.close(pid);
    if (tracked !== undefined && tracked.tid !== pid) this.#stat.close(tracked.tid);
  }

  #touch(pid: number, tracked: Tracked): void {
    this.#tracked.delete(pid);
    this.#tracked.set(pid, tracked);
    if (this.#tracked.size > this.#options.maxProcesses) this.forget(this.#tracked.keys().next().value!);
  }

  /** Who `pid` is and the thread to read it through (`prefer` tried first, `skip` never), or why not. */
  #identity(pid: number, prefer = pid, skip?: ReadonlySet<number>): LiveProcess | ProcessFailure {
    this.#counts.statReads++;
    let live: LiveProcess | undefined;
    try {
      live = readLiveProcess(pid, this.#options.procRoot, { reader: this.#stat, prefer, skip });
    } catch (error) {
      return this.#procFailure(pid, "stat", error);
    }
    // Exited, whether or not its parent has reaped it yet.
    return live ?? { reason: "exited", detail: `process ${pid} exited (a zombie, not yet reaped)` };
  }

  #procFailure(pid: number, file: string, error: unknown): ProcessFailure {
    if (isBadProcfs(error)) return { reason: "bad-procfs", detail: error.message };
    const code = errorCode(error);
    if (isGone(code)) return { reason: "exited", detail: `process ${pid} exited (${code})` };
    if (isDenied(code)) return { reason: "permission", detail: `${file} of process ${pid}: ${code}` };
    throw error;
  }

  /** The model's time now: the clock in µs, always after the last event's. */
  #time(): bigint {
    const clock = this.#options.now();
    const t = clock > 0 ? BigInt(Math.floor(clock * 1000)) : 0n;
    this.#lastTime = t > this.#lastTime ? t : this.#lastTime + 1n;
    return this.#lastTime;
  }
}
