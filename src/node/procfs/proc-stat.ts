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
 * @packageDocumentation
 */
import { closeSync, readSync, statfsSync } from "node:fs";
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
   * Field 3, the state, is `Z` or `X`: the process has exited (its memory is gone; its maps read
   * empty), and only its parent's wait still holds the PID. A thread-group leader that exited
   * before its other threads reads so too, its maps empty as well.
   */
  exited: boolean;
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
export function parseProcStat(text: string): ProcessIdentity {
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
  const open = text.indexOf("(");
  const comm = open >= 0 && open < close ? text.slice(open + 1, close).slice(0, COMM_KEPT) : "";
  return {
    startTime: BigInt(start),
    layout: LAYOUT_FIELDS.map((n) => field(n) ?? "").join(" "),
    comm,
    ppid: Number(ppid),
    exited: /^[ZXx]$/.test(state),
  };
}

/**
 * Reads and parses `/proc/PID/stat` through `readRegularFileSync` (`procRoot` is where procfs is
 * mounted). Blocking on purpose: one small read the kernel answers from memory costs less than the
 * thread-pool round trips of the asynchronous calls, and it runs once per bound per process.
 * @throws as `readRegularFileSync` and {@link parseProcStat}.
 */
export function readProcessIdentity(pid: number, procRoot = "/proc"): ProcessIdentity {
  const { bytes } = readRegularFileSync(`${procRoot}/${pid}/stat`, { untilEof: true, maxBytes: STAT_READ_LIMIT });
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
 * `/proc/PID/stat` kept open per process and read again with one `pread`: a third of what opening
 * it by path costs. Exact: a descriptor stays bound to the process it was opened for, so once that
 * process is gone it fails (`ESRCH`) even when another process has taken the PID; the path is then
 * opened afresh once, which names whoever holds the PID now. Holds at most {@link HELD_STAT_MAX}
 * descriptors (the oldest opened is closed first). Under a `procRoot` that is not procfs (a copy,
 * a test's tree) nothing is held: every read opens the path.
 */
export class HeldProcStat {
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
   * Who `pid` is now, as {@link readProcessIdentity} answers.
   * @throws as {@link readProcessIdentity}.
   */
  read(pid: number): ProcessIdentity {
    const held = this.#fds.get(pid);
    if (held !== undefined) {
      try {
        return this.#parse(pid, held);
      } catch (error) {
        this.close(pid);
        if (!isGone(errorCode(error))) throw error;
      }
    }
    const path = `${this.#procRoot}/${pid}/stat`;
    const { fd } = openRegularSync(path);
    let identity: ProcessIdentity;
    try {
      identity = this.#parse(pid, fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    if (!this.#hold) {
      closeSync(fd);
      return identity;
    }
    this.#fds.set(pid, fd);
    if (this.#fds.size > HELD_STAT_MAX) this.close(this.#fds.keys().next().value!);
    return identity;
  }

  /** Closes what is held for `pid`. */
  close(pid: number): void {
    const fd = this.#fds.get(pid);
    if (fd === undefined) return;
    this.#fds.delete(pid);
    closeSync(fd);
  }

  /** How many descriptors are open. */
  get size(): number {
    return this.#fds.size;
  }

  #parse(pid: number, fd: number): ProcessIdentity {
    const n = readSync(fd, this.#buffer, 0, this.#buffer.length, 0);
    if (n > STAT_READ_LIMIT) throw new FileTooLargeError(`${this.#procRoot}/${pid}/stat`, BigInt(n), STAT_READ_LIMIT);
    return parseProcStat(decoder.decode(this.#buffer.subarray(0, n)));
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
