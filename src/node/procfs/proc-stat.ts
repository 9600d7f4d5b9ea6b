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
import { readRegularFileSync } from "../safe-open.js";

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
  const open = text.indexOf("(");
  const comm = open >= 0 && open < close ? text.slice(open + 1, close).slice(0, COMM_KEPT) : "";
  return {
    startTime: BigInt(start),
    layout: LAYOUT_FIELDS.map((n) => field(n) ?? "").join(" "),
    comm,
    ppid: Number(ppid),
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

/** Both name the same process running the same program. */
export function sameProcess(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.startTime === b.startTime && a.layout === b.layout;
}
