/**
 * What feeds the address-space model: six events, in perf's terms but not in its byte layout.
 * The perf.data reader turns MMAP/MMAP2, FORK, COMM, EXIT records into them; the `/proc` side
 * turns its reads of `/proc/PID/maps` into snapshots (and later changes into maps and unmaps).
 *
 * Times are `bigint`s on one clock per model (perf's sample time in ns; any monotonic clock for
 * the `/proc` side). Process and thread IDs are signed 32-bit integers as the kernel's `pid_t`;
 * {@link KERNEL_PID} names the kernel's space.
 *
 * @module
 */

/** The pid of the kernel's own space (perf's host kernel: MMAP records with pid -1). */
export const KERNEL_PID = -1;

/**
 * A file as the kernel names it: `(maj, min, ino, ino_generation)` from MMAP2 or a maps line
 * (whose generation is unknown: `undefined`, never equal to a known one).
 */
export interface InodeFileRef {
  /** Names the file by device and inode. */
  readonly kind: "inode";
  /** Device major number. */
  readonly major: number;
  /** Device minor number. */
  readonly minor: number;
  /** Inode number. */
  readonly inode: bigint;
  /** `ino_generation`, or `undefined` where the source does not say (`/proc/PID/maps`). */
  readonly generation?: bigint | undefined;
}

/** A file named by its build ID: MMAP2 with `PERF_RECORD_MISC_MMAP_BUILD_ID` (`perf record --buildid-mmap`). */
export interface BuildIdFileRef {
  /** Names the file by its build ID. */
  readonly kind: "build-id";
  /**
   * The build ID, 1 to 255 bytes. An MMAP2 whose build ID the kernel could not read (size 0) is an
   * {@link UnknownFileRef}, not an empty ID.
   */
  readonly buildId: Uint8Array;
}

/**
 * Not a file on disk, named by the mapping's path: `[vdso]`, `[vsyscall]`, `[kernel.kallsyms]_text`,
 * and anonymous memory (`//anon`, `[heap]`, `[stack]`, ...; see {@link isAnonymousPath}). Every
 * pseudo ref at one path shares a file id (one kernel's `[vdso]` is one image).
 */
export interface PseudoFileRef {
  /** Not a file: named by the mapping's path. */
  readonly kind: "pseudo";
}

/**
 * A file that cannot be named exactly: MMAP (v1) records carry a path and no identity. Its file id
 * names the path, not a file (every unknown ref at one path shares it): a build ID for it can only
 * come from elsewhere, such as perf's `HEADER_BUILD_ID` table, which is keyed by path too.
 */
export interface UnknownFileRef {
  /** No identity: named by the mapping's path, which does not name it exactly. */
  readonly kind: "unknown";
}

/** What a mapping maps. */
export type FileRef = InodeFileRef | BuildIdFileRef | PseudoFileRef | UnknownFileRef;

/** One mapping as a source describes it: perf's MMAP2 body, or one line of `/proc/PID/maps`. */
export interface MappingFields {
  /** First address. */
  readonly start: bigint;
  /** Bytes mapped, at least 1; `start + length` may reach 2^64. */
  readonly length: bigint;
  /** File offset of `start`. */
  readonly pgoff: bigint;
  /** `PROT_*` bits (0 where the source does not say, as MMAP v1). */
  readonly prot: number;
  /** `MAP_*` bits (0 where the source does not say). */
  readonly flags: number;
  /** The path as the source gives it: shown, and the name of pseudo and unknown files. */
  readonly path: string;
  /** The file's identity. */
  readonly file: FileRef;
}

/**
 * A new mapping in `pid`'s space from `time`: it replaces whatever part of older mappings it overlaps
 * (the older ones are trimmed or split, as perf's `maps__fixup_overlappings`). A pid with no live
 * space gets a new one.
 */
export interface MapEvent extends MappingFields {
  /** Which event. */
  readonly type: "map";
  /** When it was mapped. */
  readonly time: bigint;
  /** Process (thread group) ID; {@link KERNEL_PID} for the kernel's space. */
  readonly pid: number;
  /** Thread that mapped it (not used by the model; kept so records convert one to one). */
  readonly tid: number;
}

/** `[start, start + length)` is no longer mapped in `pid`'s space (perf has no such record; `/proc` reads do). */
export interface UnmapEvent {
  /** Which event. */
  readonly type: "unmap";
  /** When it was unmapped. */
  readonly time: bigint;
  /** Process whose space it was; {@link KERNEL_PID} for the kernel's. */
  readonly pid: number;
  /** First address no longer mapped. */
  readonly start: bigint;
  /** Bytes no longer mapped, at least 1. */
  readonly length: bigint;
}

/**
 * `ptid` of process `ppid` created thread `tid` of process `pid`. A new process (`pid !== ppid`)
 * starts with a copy of the parent's space; a new thread (`pid === ppid`) shares its process's.
 */
export interface ForkEvent {
  /** Which event. */
  readonly type: "fork";
  /** When the child was created. */
  readonly time: bigint;
  /** The new thread's process. */
  readonly pid: number;
  /** The creating thread's process. */
  readonly ppid: number;
  /** The new thread (equal to `pid` for a new process). */
  readonly tid: number;
  /** The creating thread. */
  readonly ptid: number;
  /**
   * Set for a fork perf synthesised for a process that already existed
   * (`PERF_RECORD_MISC_FORK_EXEC`): its space starts empty, its mappings follow as map events, and a
   * live space of that pid is kept rather than replaced.
   */
  readonly synthesized?: boolean | undefined;
}

/** Thread `tid` of `pid` is now called `comm`; with `exec`, the process ran a new program at `time`. */
export interface CommEvent {
  /** Which event. */
  readonly type: "comm";
  /** When the name changed (or the exec happened). */
  readonly time: bigint;
  /** The process. */
  readonly pid: number;
  /** The thread renamed (after an exec, the process's only thread: `pid`). */
  readonly tid: number;
  /** The new name. */
  readonly comm: string;
  /** `PERF_RECORD_MISC_COMM_EXEC`: the old program's space ends here and a new, empty one begins. */
  readonly exec: boolean;
}

/** Thread `tid` of `pid` exited at `time`. */
export interface ExitEvent {
  /** Which event. */
  readonly type: "exit";
  /** When the thread exited. */
  readonly time: bigint;
  /** The process. */
  readonly pid: number;
  /** The thread that exited; `pid` for the thread group leader. */
  readonly tid: number;
}

/** The whole of `pid`'s space as read at `time` (the `/proc` side's read of `/proc/PID/maps`). */
export interface SnapshotEvent {
  /** Which event. */
  readonly type: "snapshot";
  /** When the space was read. */
  readonly time: bigint;
  /** The process read; {@link KERNEL_PID} for the kernel's space. */
  readonly pid: number;
  /** Every mapping, in any order; they must not overlap. */
  readonly mappings: readonly MappingFields[];
}

/** Everything the model is fed. */
export type SpaceEvent = MapEvent | UnmapEvent | ForkEvent | CommEvent | ExitEvent | SnapshotEvent;
