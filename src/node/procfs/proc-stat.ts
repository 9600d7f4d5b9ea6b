/**
 * `/proc/PID/stat`: what tells one process from another that later gets its PID, and one program
 * from the next after `exec`, in a single small read.
 *
 * The start time (field 22, clock ticks after boot) differs between two processes that share a
 * PID. It survives `exec`, so beside it we keep the addresses `exec` lays out afresh: the code
 * range, the stack start and the argument and environment areas (fields 26-28 and 48-51). Under
 * ASLR they all move on every `exec`; without it an `exec` of the same program with the same
 * arguments lays out the same addresses, which the held maps then still describe for its files.
 *
 * A thread-group leader that exits while other threads run reads as a zombie whose memory is gone,
 * though its process lives on: {@link readLiveProcess} finds the thread to read it through.
 *
 * @packageDocumentation
 */
import { closeSync, type Dir, opendirSync, readSync, statfsSync } from "node:fs";
import { errorCode, isGone } from "../errno.js";
import { FileTooLargeError, openRegularSync, readRegularFileSync } from "../safe-open.js";

/** Who a PID is now: see the module comment. */
export interface ProcessIdentity {
  /** Field 22, `starttime`. */
  startTime: bigint;
  /** Fields 26-28 and 48-51 joined: they change on `exec` (all 0 when ptrace access is denied). */
  layout: string;
  /** Field 2, `comm`: the command name (at most 64 characters are kept). */
  comm: string;
  /** Field 4, `ppid`: the parent process. */
  ppid: number;
  /**
   * The whole process has exited (its memory is gone; its maps read empty): the state is `Z` or `X`
   * and no other thread is left, and only its parent's wait still holds the PID. A thread-group
   * leader that exited before its other threads is not exited: the process lives in them
   * (`readLiveProcess`).
   */
  exited: boolean;
}

/** A read of one task's stat: who its process is, and whether the task itself still runs. */
export interface ProcStat extends ProcessIdentity {
  /** Field 3, the state, is `Z` or `X`: the task read has exited, its memory gone (its maps read empty). */
  dead: boolean;
  /** Field 20, `num_threads`: the threads of its group not yet reaped, itself included. */
  threads: number;
}

/** A stat line that does not have the kernel's shape. */
export class ProcStatParseError extends Error {
  /** Always "ProcStatParseError", so the error can be told apart after serialisation. */
  override name = "ProcStatParseError";
}

// The stat line is about 300 bytes; comm is at most 64.
const STAT_READ_LIMIT = 4096;
const COMM_KEPT = 64;
// Field numbers as proc(5) gives them; fields after comm (2) are counted from 3.
const LAYOUT_FIELDS = [26, 27, 28, 48, 49, 50, 51];

/**
 * Parses the text of `/proc/PID/stat`.
 * @throws ProcStatParseError naming what is missing.
 */
export function parseProcStat(text: string): ProcStat {
  // comm (field 2) may hold spaces and parentheses: the fields after it start after the last ")".
  const close = text.lastIndexOf(")");
  const rest =
    close < 0
      ? []
      : text
          .slice(close + 1)
          .trim()
          .split(" ");
  const field = (n: number) => rest[n - 3];
  const start = field(22);
  if (start === undefined || !/^[0-9]+$/.test(start))
    throw new ProcStatParseError(`stat has no start time (field 22): ${JSON.stringify(text.slice(0, 200))}`);
  const ppid = field(4);
  if (ppid === undefined || !/^[0-9]{1,10}$/.test(ppid) || Number(ppid) > 2 ** 31 - 1)
    throw new ProcStatParseError(`stat has no parent pid (field 4): ${JSON.stringify(text.slice(0, 200))}`);
  const state = field(3);
  if (state === undefined || !/^[A-Za-z]$/.test(state))
    throw new ProcStatParseError(`stat has no state (field 3): ${JSON.stringify(text.slice(0, 200))}`);
  const threads = field(20);
  if (threads === undefined || !/^[0-9]{1,10}$/.test(threads))
    throw new ProcStatParseError(`stat has no thread count (field 20): ${JSON.stringify(text.slice(0, 200))}`);
  const dead = /^[ZXx]$/.test(state);
  const open = text.indexOf("(");
  const comm = open >= 0 && open < close ? text.slice(open + 1, close).slice(0, COMM_KEPT) : "";
  return {
    startTime: BigInt(start),
    layout: LAYOUT_FIELDS.map((n) => field(n) ?? "").join(" "),
    comm,
    ppid: Number(ppid),
    dead,
    threads: Number(threads),
    exited: dead && Number(threads) <= 1,
  };
}

/** `/proc/PID/stat`, or with `tid` another thread's: `/proc/PID/task/TID/stat`, found only while TID is a thread of PID. */
function statPath(procRoot: string, pid: number, tid: number): string {
  return tid === pid ? `${procRoot}/${pid}/stat` : `${procRoot}/${pid}/task/${tid}/stat`;
}

/**
 * Reads and parses `/proc/PID/stat` (of thread `tid` of the process, given one) through
 * `readRegularFileSync` (`procRoot` is where procfs is mounted). Blocking on purpose: one small
 * read the kernel answers from memory costs less than the thread-pool round trips of the
 * asynchronous calls, and it runs once per bound per process.
 * @throws as `readRegularFileSync` and {@link parseProcStat}.
 */
export function readProcessIdentity(pid: number, procRoot = "/proc", tid = pid): ProcStat {
  const { bytes } = readRegularFileSync(statPath(procRoot, pid, tid), { untilEof: true, maxBytes: STAT_READ_LIMIT });
  return parseProcStat(new TextDecoder().decode(bytes));
}

/** How many `/proc/PID/stat` descriptors a {@link HeldProcStat} keeps open at most. */
export const HELD_STAT_MAX = 256;

const decoder = new TextDecoder();
// statfs(2)'s f_type of procfs: only there is a descriptor bound to its process.
const PROC_SUPER_MAGIC = 0x9fa0;
// A dropped holder's descriptors are closed when it is collected.
const orphans = new FinalizationRegistry<Map<number, number>>((fds) => {
  for (const fd of fds.values()) closeSync(fd);
});

/**
 * `/proc/PID/stat` kept open per process (or per thread, `/proc/PID/task/TID/stat`) and read again
 * with one `pread`: a third of what opening it by path costs. Exact: a descriptor stays bound to the
 * task it was opened for, so once that task is gone it fails (`ESRCH`) even when another has taken
 * the PID; the path is then opened afresh once, which names whoever holds the PID now. Holds at most {@link HELD_STAT_MAX}
 * descriptors (the oldest opened is closed first). Under a `procRoot` that is not procfs (a copy,
 * a test's tree) nothing is held: every read opens the path.
 */
export class HeldProcStat implements StatReader {
  readonly #procRoot: string;
  readonly #fds = new Map<number, number>();
  readonly #buffer = new Uint8Array(STAT_READ_LIMIT + 1);
  readonly #hold: boolean;

  /** @param procRoot where procfs is mounted. */
  constructor(procRoot = "/proc") {
    this.#procRoot = procRoot;
    let type = 0;
    try {
      type = statfsSync(procRoot).type;
    } catch {}
    this.#hold = type === PROC_SUPER_MAGIC;
    orphans.register(this, this.#fds, this);
  }

  /**
   * Who `pid` (its thread `tid`, given one) is now, as {@link readProcessIdentity} answers.
   * @throws as {@link readProcessIdentity}.
   */
  read(pid: number, tid = pid): ProcStat {
    const held = this.#fds.get(tid);
    if (held !== undefined) {
      try {
        return this.#parse(pid, tid, held);
      } catch (error) {
        this.close(tid);
        if (!isGone(errorCode(error))) throw error;
      }
    }
    const { fd } = openRegularSync(statPath(this.#procRoot, pid, tid));
    let identity: ProcStat;
    try {
      identity = this.#parse(pid, tid, fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    if (!this.#hold) {
      closeSync(fd);
      return identity;
    }
    this.#fds.set(tid, fd);
    if (this.#fds.size > HELD_STAT_MAX) this.close(this.#fds.keys().next().value!);
    return identity;
  }

  /** Closes what is held for process or thread `tid`. */
  close(tid: number): void {
    const fd = this.#fds.get(tid);
    if (fd === undefined) return;
    this.#fds.delete(tid);
    closeSync(fd);
  }

  /** How many descriptors are open. */
  get size(): number {
    return this.#fds.size;
  }

  #parse(pid: number, tid: number, fd: number): ProcStat {
    const n = readSync(fd, this.#buffer, 0, this.#buffer.length, 0);
    if (n > STAT_READ_LIMIT)
      throw new FileTooLargeError(statPath(this.#procRoot, pid, tid), BigInt(n), STAT_READ_LIMIT);
    return parseProcStat(decoder.decode(this.#buffer.subarray(0, n)));
  }
}

/** Reads the stat of a process's thread: {@link readProcessIdentity}, or a {@link HeldProcStat} that holds it. */
export interface StatReader {
  /** Who thread `tid` of process `pid` is now (`tid` = `pid`: the process, by its leader). */
  read(pid: number, tid: number): ProcStat;
  /** Lets go of what is held for thread `tid`. */
  close?(tid: number): void;
}

/** A process that runs, and the thread whose `/proc` entries show its memory. */
export interface LiveProcess {
  /** Who the process is: its leader's stat, with the layout of {@link tid}'s (a zombie leader shows none). */
  identity: ProcessIdentity;
  /**
   * `pid` while the leader runs; once it has exited, a live thread's TID: `/proc/PID/task/TID/maps`
   * and `/proc/TID/` (`map_files/`, `root`, `exe`, `mem`, which `/proc/PID/task/TID/` lacks) show
   * the process's memory, which the zombie leader's entries show empty.
   */
  tid: number;
  /** {@link tid}'s own start time: a later read tells that very thread from another that took its TID. */
  threadStart: bigint;
}

/** Where {@link readLiveProcess} looks. */
export interface LiveProcessOptions {
  /** Reads the stats (default: by path, nothing held). */
  reader?: StatReader;
  /** The thread tried first (the one read through last). */
  prefer?: number;
  /** Threads passed over (their maps read empty: they are exiting). */
  skip?: ReadonlySet<number>;
}

/**
 * Who process `pid` is and the thread to read its memory through, or `undefined` once it has
 * exited. While the leader runs, that is the leader. A leader that exits while other threads run
 * (`pthread_exit` in `main`) is a zombie whose maps read empty though the process lives on: its
 * thread count (stat field 20, every thread not yet reaped) is then above one, and the first of
 * `/proc/PID/task/` whose own state is not a zombie's is read through. The count proves an exit
 * when it is one (only a live thread of the group can add another), never a life: the others may be
 * exiting as well, so each is asked.
 * @throws as the reader does for the leader; a thread gone while looked at is passed over.
 */
export function readLiveProcess(
  pid: number,
  procRoot = "/proc",
  options: LiveProcessOptions = {},
): LiveProcess | undefined {
  const { reader = { read: (p, t) => readProcessIdentity(p, procRoot, t) }, prefer = pid, skip } = options;
  const leader = reader.read(pid, pid);
  if (leader.exited) return undefined;
  if (!leader.dead) return { identity: leader, tid: pid, threadStart: leader.startTime };
  const through = (tid: number): LiveProcess | undefined => {
    if (skip?.has(tid)) return undefined;
    let thread: ProcStat;
    try {
      thread = reader.read(pid, tid);
    } catch (error) {
      if (isGone(errorCode(error))) return undefined;
      throw error;
    }
    if (!thread.dead) return { identity: { ...leader, layout: thread.layout }, tid, threadStart: thread.startTime };
    reader.close?.(tid);
    return undefined;
  };
  const preferred = prefer === pid ? undefined : through(prefer);
  if (preferred !== undefined) return preferred;
  let dir: Dir;
  try {
    dir = opendirSync(`${procRoot}/${pid}/task`);
  } catch (error) {
    if (isGone(errorCode(error))) return undefined;
    throw error;
  }
  try {
    for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
      const tid = Number(entry.name);
      if (!/^[0-9]{1,10}$/.test(entry.name) || tid === pid || tid === prefer) continue;
      const live = through(tid);
      if (live !== undefined) return live;
    }
  } finally {
    dir.closeSync();
  }
  return undefined;
}

/**
 * Whether the thread `live` was read through still runs and is the same one (its start time), so
 * that what was read by its TID since was its process's: true for the leader itself. A
 * {@link HeldProcStat} as `reader` makes it exact (its descriptor fails once the thread is gone).
 */
export function threadLives(
  pid: number,
  live: Pick<LiveProcess, "tid" | "threadStart">,
  procRoot = "/proc",
  reader: StatReader = { read: (p, t) => readProcessIdentity(p, procRoot, t) },
): boolean {
  if (live.tid === pid) return true;
  try {
    const thread = reader.read(pid, live.tid);
    return !thread.dead && thread.startTime === live.threadStart;
  } catch {
    return false;
  }
}

// USER_HZ: the unit of starttime for every Linux user ABI; /proc/uptime counts the same boot clock in 10 ms steps.
const TICKS_PER_S = 100;
const UPTIME_STEP_MS = 10;

/**
 * The process `identity` describes started after `realtimeMs` (`Date.now()` then): it cannot be one
 * seen running at that moment, so its PID was reused since. False when `procRoot/uptime` cannot be
 * read, or when the two are within the clocks' steps (a reuse that quick is not told apart).
 */
export function startedAfter(identity: ProcessIdentity, realtimeMs: number, procRoot = "/proc"): boolean {
  const now = Date.now();
  let uptime: number;
  try {
    uptime = Number.parseFloat(
      new TextDecoder().decode(readRegularFileSync(`${procRoot}/uptime`, { untilEof: true, maxBytes: 256 }).bytes),
    );
  } catch {
    return false;
  }
  if (!Number.isFinite(uptime)) return false;
  const startedMs = (Number(identity.startTime) * 1000) / TICKS_PER_S;
  const thenMs = uptime * 1000 - (now - realtimeMs);
  return startedMs > thenMs + 2 * UPTIME_STEP_MS;
}

/** Both name the same process running the same program. */
export function sameProcess(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.startTime === b.startTime && a.layout === b.layout;
}
