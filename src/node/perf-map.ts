/**
 * Names of JIT code from a process's perf map, `/tmp/perf-PID.map` (V8's `--perf-basic-prof`, the JVM's
 * perf-map-agent): lines `START SIZE name`, hex, read as perf's `dso__load_perf_map` reads them
 * (tools/perf/util/symbol.c). `/tmp` is world-writable, so a map is used only when it is the recorded
 * process's: opened without following a symlink and without blocking, a regular file owned by the
 * recorded process's user or root, not writable by others, modified since the recording began (a map
 * last written before then belongs to an earlier process that had the PID), and within stated bounds.
 *
 * @packageDocumentation
 */
import { closeSync, constants, openSync, readSync } from "node:fs";
import type { FrameNames, NamedFrames } from "../convert/pprof.js";
import { errorCode, isGone } from "./errno.js";
import { checkOpenedSync, READ_FLAGS } from "./safe-open.js";

/** Bounds on one map: a larger one is refused whole (a cut map would name reused addresses after the cut with older code's names). */
export interface PerfMapLimits {
  /** Most bytes read; default 64 MiB (V8 writes some 60 bytes per compiled function). */
  maxBytes: number;
  /** Most lines; default 1,000,000. */
  maxLines: number;
}

/** Default {@link PerfMapLimits}. */
export const PERF_MAP_LIMITS: PerfMapLimits = { maxBytes: 64 * 1024 * 1024, maxLines: 1_000_000 };

/** Why a map was not used. */
export type PerfMapRefusal =
  | "symlink"
  | "not-regular"
  | "owner"
  | "writable"
  | "stale"
  | "no-start"
  | "too-large"
  | "too-many-lines";

/** A perf map that is not used, and why. */
export class PerfMapError extends Error {
  /** Always "PerfMapError", so the error can be told apart after serialisation. */
  override name = "PerfMapError";
  /** Errno-style code, so callers that switch on `error.code` can tell it apart. */
  readonly code = "EPERFMAP";
  /**
   * @param path The map's path.
   * @param reason Why it is refused.
   * @param detail The values behind it.
   */
  constructor(
    readonly path: string,
    readonly reason: PerfMapRefusal,
    detail: string,
  ) {
    super(`${path}: not used: ${detail}`);
  }
}

const U64 = (1n << 64n) - 1n;

// C's isspace in the "C" locale: what strtoull skips first.
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13);

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** strtoull(p, &end, 16) on `bytes[at, to)` (a NUL ends it too): [value, characters consumed]. */
function strtoull16(bytes: Uint8Array, at: number, to: number): [bigint, number] {
  let p = at;
  while (p < to && isSpace(bytes[p]!)) p++;
  let negative = false;
  if (p < to && (bytes[p] === 43 || bytes[p] === 45)) negative = bytes[p++] === 45;
  if (p + 2 < to && bytes[p] === 48 && (bytes[p + 1]! | 32) === 120 && hexDigit(bytes[p + 2]!) >= 0) p += 2;
  const first = p;
  let value = 0n;
  while (p < to && hexDigit(bytes[p]!) >= 0) {
    if (value <= U64) value = (value << 4n) | BigInt(hexDigit(bytes[p]!));
    p++;
  }
  if (p === first) return [0n, 0];
  if (value > U64) value = U64;
  else if (negative) value = -value & U64;
  return [value, p - at];
}

/** JIT code's names by address, later lines winning where ranges overlap. */
export class PerfMap {
  readonly #bytes: Uint8Array;
  readonly #starts: bigint[];
  readonly #ends: bigint[];
  readonly #nameAt: Uint32Array;
  readonly #nameEnd: Uint32Array;
  readonly #names = new Map<number, string>();
  /** Lines that named code. */
  readonly entries: number;

  /** @internal Use {@link parsePerfMap}. */
  constructor(
    bytes: Uint8Array,
    starts: bigint[],
    ends: bigint[],
    nameAt: Uint32Array,
    nameEnd: Uint32Array,
    entries: number,
  ) {
    this.#bytes = bytes;
    this.#starts = starts;
    this.#ends = ends;
    this.#nameAt = nameAt;
    this.#nameEnd = nameEnd;
    this.entries = entries;
  }

  /** Disjoint address ranges after overlaps are settled. */
  get ranges(): number {
    return this.#starts.length;
  }

  /** The name of the code at `address`, or `undefined`. */
  lookup(address: bigint): string | undefined {
    const starts = this.#starts;
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= address) lo = mid + 1;
      else hi = mid;
    }
    const r = lo - 1;
    if (r < 0 || address >= this.#ends[r]!) return undefined;
    let name = this.#names.get(r);
    if (name === undefined) {
      name = new TextDecoder().decode(this.#bytes.subarray(this.#nameAt[r]!, this.#nameEnd[r]!));
      this.#names.set(r, name);
    }
    return name;
  }
}

/** A max-heap of entry numbers: the latest line covering a point is on top. */
class Latest {
  readonly #heap: number[] = [];

  get top(): number | undefined {
    return this.#heap[0];
  }

  push(v: number): void {
    const h = this.#heap;
    let i = h.push(v) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! >= v) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = v;
  }

  pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= h.length) break;
      if (child + 1 < h.length && h[child + 1]! > h[child]!) child++;
      if (h[child]! <= last) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = last;
  }
}

/**
 * Parses a perf map as perf does: per line, strtoull base 16 for the start, one character skipped,
 * the size, one character skipped, and the rest of the line (to a NUL) is the name; a line whose
 * name would be under 3 characters is skipped, and the last character of every line is dropped as
 * its newline (the last line's too). A range is `[start, start + size)`, size 0 the start alone; one
 * that passes 2^64 matches nothing, as in perf. Where ranges overlap perf's answer depends on its
 * tree's shape; here the later line wins: the code that was written there last.
 * @throws PerfMapError past `limits.maxLines`.
 */
export function parsePerfMap(bytes: Uint8Array, limits: Partial<PerfMapLimits> = {}, path = "perf map"): PerfMap {
  const maxLines = limits.maxLines ?? PERF_MAP_LIMITS.maxLines;
  const starts: bigint[] = [];
  const ends: bigint[] = [];
  const nameAt: number[] = [];
  const nameEnd: number[] = [];
  let lines = 0;
  for (let s = 0; s < bytes.length; ) {
    let nl = bytes.indexOf(10, s);
    if (nl < 0) nl = bytes.length;
    if (++lines > maxLines)
      throw new PerfMapError(path, "too-many-lines", `more than ${maxLines} lines, the most read from a perf map`);
    const e = Math.max(s, nl === bytes.length ? nl - 1 : nl);
    const next = nl + 1;
    const length = e - s;
    const [start, a] = strtoull16(bytes, s, e);
    let len = a + 1;
    if (len + 2 >= length) {
      s = next;
      continue;
    }
    const [size, b] = strtoull16(bytes, s + len, e);
    len += b + 1;
    if (len + 2 >= length) {
      s = next;
      continue;
    }
    const end = size === 0n ? start + 1n : start + size;
    if (end <= U64 || (size === 0n && start === U64)) {
      let z = bytes.indexOf(0, s + len);
      if (z < 0 || z > e) z = e;
      starts.push(start);
      ends.push(end);
      nameAt.push(s + len);
      nameEnd.push(z);
    }
    s = next;
  }
  return settle(bytes, starts, ends, nameAt, nameEnd);
}

// Sweeps the boundaries in order, the latest covering entry on a heap, and merges runs of one winner.
function settle(bytes: Uint8Array, starts: bigint[], ends: bigint[], nameAt: number[], nameEnd: number[]): PerfMap {
  const n = starts.length;
  const byStart = Array.from({ length: n }, (_, i) => i).sort((x, y) =>
    starts[x]! < starts[y]! ? -1 : starts[x]! > starts[y]! ? 1 : 0,
  );
  const points = [...new Set([...starts, ...ends])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const heap = new Latest();
  const outStarts: bigint[] = [];
  const outEnds: bigint[] = [];
  const winners: number[] = [];
  let next = 0;
  for (let p = 0; p < points.length - 1; p++) {
    const at = points[p]!;
    while (next < n && starts[byStart[next]!]! <= at) heap.push(byStart[next++]!);
    while (heap.top !== undefined && ends[heap.top]! <= at) heap.pop();
    const top = heap.top;
    if (top === undefined) continue;
    const to = points[p + 1]!;
    const last = winners.length - 1;
    if (last >= 0 && winners[last] === top && outEnds[last] === at) outEnds[last] = to;
    else {
      outStarts.push(at);
      outEnds.push(to);
      winners.push(top);
    }
  }
  return new PerfMap(
    bytes,
    outStarts,
    outEnds,
    Uint32Array.from(winners, (w) => nameAt[w]!),
    Uint32Array.from(winners, (w) => nameEnd[w]!),
    n,
  );
}

/** Which perf maps {@link readPerfMap} accepts. */
export interface PerfMapCheck {
  /** Owners accepted besides root (uid 0): the recorded process's user. */
  owners: readonly number[];
  /**
   * Realtime (ms) the recording began: a map last modified before it is another process's. A function
   * is asked at the first map (a saved recording's CLOCK_DATA comes after its records); `undefined`
   * from it refuses every map.
   */
  since: number | (() => number | undefined);
  /** See {@link PerfMapLimits}. */
  limits?: Partial<PerfMapLimits>;
}

/**
 * The perf map of process `pid` in `dir` (default `/tmp`), checked as the module comment says.
 * @returns `undefined` when there is none.
 * @throws PerfMapError when it is refused, and Node's errors when it cannot be read.
 */
export function readPerfMap(pid: number, check: PerfMapCheck, dir = "/tmp"): PerfMap | undefined {
  const path = `${dir}/perf-${pid}.map`;
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS | constants.O_NOFOLLOW);
  } catch (error) {
    const code = errorCode(error);
    if (isGone(code)) return undefined;
    if (code === "ELOOP") throw new PerfMapError(path, "symlink", "it is a symbolic link");
    throw error;
  }
  let st: ReturnType<typeof checkOpenedSync>["stat"];
  try {
    st = checkOpenedSync(path, fd).stat;
  } catch (error) {
    if ((error as { code?: string }).code === "ENOTREG")
      throw new PerfMapError(path, "not-regular", (error as Error).message.slice(path.length + 1));
    throw error;
  }
  try {
    const uid = Number(st.uid);
    if (uid !== 0 && !check.owners.includes(uid))
      throw new PerfMapError(
        path,
        "owner",
        `owned by uid ${uid}, not the recorded process's (${check.owners.join(", ")}) or root`,
      );
    if ((st.mode & 0o002n) !== 0n) throw new PerfMapError(path, "writable", "any user may write it");
    const since = typeof check.since === "number" ? check.since : check.since();
    if (since === undefined)
      throw new PerfMapError(
        path,
        "no-start",
        "the recording does not say when it began (perf record -k monotonic writes it), so nothing shows the map is not an earlier process's",
      );
    if (st.mtimeNs < BigInt(since) * 1_000_000n)
      throw new PerfMapError(
        path,
        "stale",
        `last modified ${new Date(Number(st.mtimeMs)).toISOString()}, before the recording began (${new Date(since).toISOString()})`,
      );
    const maxBytes = check.limits?.maxBytes ?? PERF_MAP_LIMITS.maxBytes;
    if (st.size > BigInt(maxBytes))
      throw new PerfMapError(
        path,
        "too-large",
        `${st.size} bytes, more than ${maxBytes}, the most read from a perf map`,
      );
    const bytes = new Uint8Array(Number(st.size));
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, bytes.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return parsePerfMap(bytes.subarray(0, got), check.limits, path);
  } finally {
    closeSync(fd);
  }
}

/** Per process, its perf map read once (at its first frame), and what came of each. */
export class PerfMapNames {
  readonly #maps = new Map<number, PerfMap | undefined>();
  /** Maps refused or unreadable, by pid. */
  readonly refused = new Map<number, Error>();

  /**
   * @param check What a map must satisfy.
   * @param dir Where the maps are; default `/tmp`.
   */
  constructor(
    readonly check: PerfMapCheck,
    readonly dir = "/tmp",
  ) {}

  /** Names for the converter's `frameNames`. */
  readonly frameNames: FrameNames = (pid, address) => this.#map(pid)?.lookup(address);

  /** Maps used, by pid. */
  get used(): Map<number, PerfMap> {
    const used = new Map<number, PerfMap>();
    for (const [pid, map] of this.#maps) if (map !== undefined) used.set(pid, map);
    return used;
  }

  #map(pid: number): PerfMap | undefined {
    if (this.#maps.has(pid)) return this.#maps.get(pid);
    let map: PerfMap | undefined;
    try {
      map = readPerfMap(pid, this.check, this.dir);
    } catch (error) {
      this.refused.set(pid, error as Error);
    }
    this.#maps.set(pid, map);
    return map;
  }
}

/** What `--json` says of JIT names: the samples and frames named, the maps used and those not. */
export function perfMapSummary(jit: PerfMapNames, named: NamedFrames | undefined) {
  return {
    samples: named?.samples ?? 0,
    frames: named?.frames ?? 0,
    maps: [...jit.used].map(([pid, map]) => ({ pid, path: `${jit.dir}/perf-${pid}.map`, entries: map.entries })),
    refused: [...jit.refused].map(([pid, error]) => ({
      pid,
      reason: error instanceof PerfMapError ? error.reason : ((error as { code?: string }).code ?? "error"),
      message: error.message,
    })),
  };
}

// Grouped as the conversion report groups its counts (by hand: toLocaleString loads ICU's data).
const count = (n: number): string => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** The report's lines on JIT names (each ending in a newline), or "" when there is nothing to say. */
export function perfMapReport(
  jit: PerfMapNames,
  named: NamedFrames | undefined,
  samples: number,
  anonymous = 0,
): string {
  const lines: string[] = [];
  const used = jit.used;
  if (used.size > 0) {
    const share = samples > 0 ? ` (${((100 * (named?.samples ?? 0)) / samples).toFixed(1)}%)` : "";
    const maps = [...used].map(([pid, map]) => `${jit.dir}/perf-${pid}.map, ${count(map.entries)} entries`).join("; ");
    lines.push(`  JIT names: ${count(named?.samples ?? 0)} samples${share} named from ${maps}`);
  }
  for (const error of jit.refused.values()) lines.push(`  JIT names: ${error.message}`);
  if (used.size === 0 && jit.refused.size === 0 && anonymous > 0)
    lines.push("  JIT names: no perf map (node --perf-basic-prof writes /tmp/perf-PID.map, which names JIT frames)");
  return lines.map((line) => `${line}\n`).join("");
}
