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
 * @packageDocumentation
 */
import { AddressSpaces } from "../../spaces/index.js";
import { errorCode, isDenied, isGone } from "../errno.js";
import { ProcFeed } from "../procfs/feed.js";
import { type Mapping, MapsParseError, type MapsRead, parseMapsAfter, readMapsTextSync } from "../procfs/maps.js";
import { HeldProcStat, type ProcessIdentity, ProcStatParseError, sameProcess } from "../procfs/proc-stat.js";
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

  /**
   * @param counts where to count reads and refreshes (the resolver's stats).
   * @param name the line kept for a mapping first seen (see {@link ProcFeed}).
   */
  constructor(options: TrackerOptions, counts: TrackerCounts, name: (pid: number, line: Mapping) => Mapping) {
    this.#options = options;
    this.#counts = counts;
    this.#stat = new HeldProcStat(options.procRoot);
    // The resolver never holds more live spaces than maxProcesses; ended ones (one per pid) go first.
    this.spaces = new AddressSpaces({ maxProcesses: Math.min(2 * options.maxProcesses, 2 ** 24), keepEnded: 1 });
    this.feed = new ProcFeed(this.spaces, name);
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
      const identity = this.#identity(pid);
      if ("reason" in identity) return this.#lost(pid, tracked, identity, now);
      tracked.statAt = now;
      if (tracked.gone || !sameProcess(this.feed.identity(pid)!, identity)) {
        this.#counts.refreshes++;
        this.#counts.replaced++;
        return this.#read(pid, tracked, identity);
      }
    }
    if (!tracked.gone && expired(tracked.readAt, now, fileMaxAgeMs)) return this.reread(pid, tracked, now);
    return tracked;
  }

  /** Reads `pid`'s maps again (and its identity, unless confirmed at `now`). */
  reread(pid: number, tracked: Tracked, now: number): Tracked | ProcessFailure {
    this.#counts.refreshes++;
    let identity = this.feed.identity(pid);
    if (identity === undefined || tracked.statAt !== now) {
      const read = this.#identity(pid);
      if ("reason" in read) return this.#lost(pid, tracked, read, now);
      if (identity !== undefined && !sameProcess(identity, read)) this.#counts.replaced++;
      identity = read;
      tracked.statAt = now;
    }
    return this.#read(pid, tracked, identity);
  }

  /** Drops what is held for `pid`; its space in the model ends. */
  forget(pid: number): void {
    if (this.#tracked.delete(pid)) this.feed.exited(pid, this.#time());
    this.#failed.delete(pid);
    this.#stat.close(pid);
  }

  #load(pid: number, now: number): Tracked | ProcessFailure {
    const identity = this.#identity(pid);
    if ("reason" in identity) return this.#fail(pid, identity, now);
    const tracked: Tracked = {
      statAt: now,
      readAt: now,
      gone: false,
      endedAt: 0n,
      vdso: undefined,
      failures: new Map(),
      maps: undefined,
    };
    const read = this.#read(pid, tracked, identity);
    if ("reason" in read) return read;
    this.#failed.delete(pid);
    this.#touch(pid, tracked);
    return tracked;
  }

  /** Reads the maps of the process `identity` describes and feeds them. */
  #read(pid: number, tracked: Tracked, identity: ProcessIdentity): Tracked | ProcessFailure {
    this.#counts.mapsReads++;
    const readAt = this.#options.now();
    const seenAt = Date.now();
    let read: MapsRead;
    try {
      read = parseMapsAfter(readMapsTextSync(pid, this.#options.procRoot), tracked.maps);
    } catch (error) {
      return this.#readFailed(pid, tracked, this.#procFailure(pid, "maps", error), readAt);
    }
    // Empty maps may be a zombie's (it exited since its stat was read): its stat says.
    if (read.mappings.length === 0) {
      const again = this.#identity(pid);
      if ("reason" in again) return this.#readFailed(pid, tracked, again, readAt);
    }
    const outcome = this.feed.read(pid, this.#time(), identity, read.mappings, seenAt);
    tracked.maps = read;
    if (outcome !== "same") {
      tracked.vdso = undefined;
      tracked.failures.clear();
    }
    tracked.readAt = readAt;
    tracked.gone = false;
    return tracked;
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
    if (this.#tracked.delete(pid)) this.feed.exited(pid, this.#time());
    this.#stat.close(pid);
    this.#failed.delete(pid);
    this.#failed.set(pid, { ...failure, at: now });
    if (this.#failed.size > this.#options.maxProcesses) this.#failed.delete(this.#failed.keys().next().value!);
    return failure;
  }

  #touch(pid: number, tracked: Tracked): void {
    this.#tracked.delete(pid);
    this.#tracked.set(pid, tracked);
    if (this.#tracked.size > this.#options.maxProcesses) this.forget(this.#tracked.keys().next().value!);
  }

  #identity(pid: number): ProcessIdentity | ProcessFailure {
    this.#counts.statReads++;
    let identity: ProcessIdentity;
    try {
      identity = this.#stat.read(pid);
    } catch (error) {
      return this.#procFailure(pid, "stat", error);
    }
    // Exited, whether or not its parent has reaped it yet.
    return identity.exited
      ? { reason: "exited", detail: `process ${pid} exited (a zombie, not yet reaped)` }
      : identity;
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
