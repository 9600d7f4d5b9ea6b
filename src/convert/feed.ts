/**
 * perf's records as the address-space model's events: MMAP and MMAP2 become map events (the kernel's
 * maps in {@link KERNEL_PID}'s space), COMM, FORK and EXIT their namesakes; and the feed that applies
 * them in delivery order, so an event the model refuses is counted, never fatal.
 *
 * @module
 */
import { parseHexInto } from "../hex.js";
import { Misc } from "../perf/constants.js";
import type { CommRecord, Mmap2Record, MmapRecord, PerfRecord, TaskRecord } from "../perf/records.js";
import {
  type AddressSpaces,
  type FileRef,
  isAnonymousPath,
  KERNEL_PID,
  type MapEvent,
  type SpaceEvent,
  SpaceEventError,
} from "../spaces/index.js";

/** `header.misc`'s CPU mode of the kernel (`PERF_RECORD_MISC_KERNEL`). */
export const CPUMODE_KERNEL = 1;
/** `header.misc`'s CPU mode of user space (`PERF_RECORD_MISC_USER`). */
export const CPUMODE_USER = 2;

/** perf's name for the kernel's own image, `machine->mmap_name` of the host. */
export const KERNEL_NAME = "[kernel.kallsyms]";

/** A path that names no file on disk: `[vdso]`, `[kernel.kallsyms]_text`, anonymous memory. */
export function isPseudoPath(path: string): boolean {
  return path.startsWith("[") || isAnonymousPath(path);
}

function pathRef(path: string): FileRef {
  return isPseudoPath(path) ? { kind: "pseudo" } : { kind: "unknown" };
}

function mmap2Ref(r: Mmap2Record): FileRef {
  const id = r.identity;
  if (id.kind === "build-id") {
    if (id.buildId.length === 0) return pathRef(r.filename);
    const bytes = new Uint8Array(id.buildId.length / 2);
    parseHexInto(id.buildId, bytes, 0, "MMAP2 build ID");
    return { kind: "build-id", buildId: bytes };
  }
  if (id.maj === 0 && id.min === 0 && id.ino === 0n) return pathRef(r.filename);
  return { kind: "inode", major: id.maj, minor: id.min, inode: id.ino, generation: id.inoGeneration };
}

/**
 * The map event of an MMAP or MMAP2 record at `time`; `undefined` for an empty one (perf drops those too) and
 * for a user-space one of pid -1, which perf keeps in a thread of its own, not in the kernel's maps.
 */
export function mapEventOf(r: MmapRecord | Mmap2Record, time: bigint): MapEvent | undefined {
  const kernel = (r.misc & Misc.CPUMODE_MASK) === CPUMODE_KERNEL;
  if (r.len === 0n || (!kernel && r.pid === KERNEL_PID)) return undefined;
  return {
    type: "map",
    time,
    pid: kernel ? KERNEL_PID : r.pid,
    tid: kernel ? KERNEL_PID : r.tid,
    start: r.start,
    length: r.len,
    pgoff: r.pgoff,
    prot: r.kind === "mmap2" ? r.prot : 0,
    flags: r.kind === "mmap2" ? r.flags : 0,
    path: r.filename,
    file: r.kind === "mmap2" ? mmap2Ref(r) : pathRef(r.filename),
  };
}

function taskEventOf(r: CommRecord | TaskRecord, time: bigint): SpaceEvent {
  switch (r.kind) {
    case "comm":
      return { type: "comm", time, pid: r.pid, tid: r.tid, comm: r.comm, exec: r.exec };
    case "fork":
      return {
        type: "fork",
        time,
        pid: r.pid,
        ppid: r.ppid,
        tid: r.tid,
        ptid: r.ptid,
        synthesized: (r.misc & Misc.FORK_EXEC) !== 0,
      };
    case "exit":
      return { type: "exit", time, pid: r.pid, tid: r.tid };
  }
}

const U64_MAX = 0xffffffffffffffffn;

/** What the feed did with the records it was given. */
export interface FeedStats {
  /** Events applied. */
  applied: number;
  /** Events the model refused (a malformed range, a fork of the kernel's pid): counted and skipped, as perf skips them. */
  refused: number;
  /** Events applied at a later time than their own, because a space they touch had seen a later event (records perf delivered out of time order). */
  clamped: number;
  /** The first refusal's message, for a report. */
  firstRefusal: string | undefined;
}

/**
 * Applies perf's records to an {@link AddressSpaces} in the order given (perf's delivery order). A record
 * without a time (or at 2^64 - 1, which perf delivers at once), or older than a space it touches, is applied at the latest time that space has seen,
 * so a lookup before that time answers `changed` rather than a file the record may have replaced.
 */
export class SpaceFeed {
  /** Counters; see {@link FeedStats}. */
  readonly stats: FeedStats = { applied: 0, refused: 0, clamped: 0, firstRefusal: undefined };
  #latest = 0n;

  /** @param spaces the model fed */
  constructor(readonly spaces: AddressSpaces) {}

  /** The latest time any record given so far carried. */
  get latest(): bigint {
    return this.#latest;
  }

  /** Applies `record` if it changes a space; returns the event applied, or `undefined` for other records and refusals. */
  push(record: PerfRecord): SpaceEvent | undefined {
    // 2^64 - 1 is no time: perf delivers such a record at once, as one without a time.
    const t = record.time === U64_MAX ? undefined : record.time;
    if (t !== undefined && t > this.#latest) this.#latest = t;
    let event: SpaceEvent | undefined;
    switch (record.kind) {
      case "mmap":
      case "mmap2": {
        const pid = (record.misc & Misc.CPUMODE_MASK) === CPUMODE_KERNEL ? KERNEL_PID : record.pid;
        event = mapEventOf(record, this.#timeFor(t, pid));
        break;
      }
      case "comm":
      case "exit":
        event = taskEventOf(record, this.#timeFor(t, record.pid));
        break;
      case "fork":
        event = taskEventOf(record, this.#timeFor(t, record.pid, record.ppid));
        break;
      default:
        return undefined;
    }
    if (event === undefined) return undefined;
    try {
      this.spaces.apply(event);
      this.stats.applied++;
      return event;
    } catch (error) {
      if (!(error instanceof SpaceEventError || error instanceof RangeError)) throw error;
      this.stats.refused++;
      this.stats.firstRefusal ??= `${error.message} (record at byte ${record.offset})`;
      return undefined;
    }
  }

  #timeFor(time: bigint | undefined, pid: number, ppid?: number): bigint {
    let at = time ?? this.#latest;
    for (const p of ppid === undefined ? [pid] : [pid, ppid]) {
      if (p < KERNEL_PID) continue;
      const seen = this.spaces.space(p)?.updatedAt;
      if (seen !== undefined && seen > at) {
        at = seen;
        if (time !== undefined) this.stats.clamped++;
      }
    }
    return at;
  }
}
