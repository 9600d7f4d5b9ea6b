/**
 * The aggregated samples as a pprof profile: one Mapping per file (its path, its build ID when known,
 * and a range of file offsets), Locations at file offsets (address = offset in the file, so a Mapping's
 * start, limit and offset agree and pprof symbolises from the file's program headers), unresolved
 * frames as Locations without a Mapping at their virtual address, and one Sample per process and stack
 * with `samples/count` and the period sum, labelled with the process's pid and command name.
 *
 * @module
 */
import type { FileBuildId } from "./build-ids.js";
import { ProtoWriter } from "./protobuf.js";
import { SampleAggregator } from "./samples.js";

const PAGE = 4096n;

/** What the profile says about its samples' second value and the sampling period. */
export interface ProfileUnits {
  /** The second sample value's type and unit: `cpu`/`nanoseconds` for cpu-clock, the event's name and `count` otherwise. */
  readonly period: readonly [type: string, unit: string];
  /** The sampling period in that unit (0 when it varies per sample, as with `-F`). */
  readonly interval: number;
  /** First to last sample, in nanoseconds. */
  readonly durationNanos: number;
  /** The first sample's wall-clock time, ns since the epoch, when the recording's clock places it (0: unknown). */
  readonly timeNanos: bigint;
  /** Comments to keep in the profile. */
  readonly comments: readonly string[];
}

/** Names for unresolved frames' addresses, when a caller has them (JIT code from `/tmp/perf-PID.map`). */
export type FrameNames = (pid: number, address: bigint) => string | undefined;

/** The string table: each string's index, "" first. */
class Strings {
  readonly list: string[] = [""];
  readonly #index = new Map<string, number>([["", 0]]);

  of(s: string): number {
    let i = this.#index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.#index.set(s, i);
    }
    return i;
  }
}

/** Unresolved frames a {@link FrameNames} named: see `nameFrames`. */
export interface NamedFrames {
  /** Per location, its function's id (1-based index into `names`), 0 when unnamed. */
  readonly functionOf: Uint32Array;
  /** The functions' names, each once. */
  readonly names: readonly string[];
  /** Locations named. */
  readonly frames: number;
  /** Samples whose leaf frame was named. */
  readonly samples: number;
}

/** Names the user-space frames that resolved to no file (kernel frames never), one function per distinct name. */
export function nameFrames(agg: SampleAggregator, names: FrameNames): NamedFrames {
  const { tags } = agg.locations;
  const n = agg.locations.size;
  const functionOf = new Uint32Array(n);
  const ids = new Map<string, number>();
  let frames = 0;
  for (let i = 0; i < n; i++) {
    const tag = tags[i]!;
    if (SampleAggregator.isFileTag(tag) || tag === 0xffffffff) continue;
    const address = (BigInt(agg.locations.his[i]!) << 32n) | BigInt(agg.locations.los[i]!);
    const name = names(agg.processes[tag & 0x7fffffff]!.pid, address);
    if (name === undefined) continue;
    let id = ids.get(name);
    if (id === undefined) {
      id = ids.size + 1;
      ids.set(name, id);
    }
    functionOf[i] = id;
    frames++;
  }
  let samples = 0;
  const { arena, starts, counts } = agg.stacks;
  if (frames > 0)
    for (let s = 0; s < agg.stacks.size; s++) if (functionOf[arena[starts[s]!]!]! !== 0) samples += counts[s]!;
  return { functionOf, names: [...ids.keys()], frames, samples };
}

/** Encodes the profile (uncompressed protobuf bytes, profile.proto's field numbers). */
export function writeProfile(
  agg: SampleAggregator,
  buildIds: ReadonlyMap<number, FileBuildId>,
  units: ProfileUnits,
  named?: NamedFrames,
): Uint8Array {
  const strings = new Strings();
  const { locations, stacks } = agg;
  const n = locations.size;
  const { tags, his, los } = locations;
  // Per file, its lowest and highest location (compared as words: no bigint per location).
  const low = new Map<number, number>();
  const high = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const tag = tags[i]!;
    if (!SampleAggregator.isFileTag(tag)) continue;
    const hi = his[i]!;
    const lo = los[i]!;
    const l = low.get(tag);
    if (l === undefined || hi < his[l]! || (hi === his[l]! && lo < los[l]!)) low.set(tag, i);
    const h = high.get(tag);
    if (h === undefined || hi > his[h]! || (hi === his[h]! && lo > los[h]!)) high.set(tag, i);
  }
  const addressOf = (i: number) => (BigInt(his[i]!) << 32n) | BigInt(los[i]!);
  const out = new ProtoWriter();
  const [periodType, periodUnit] = units.period;
  const valueType = (type: string, unit: string) => {
    const at = out.begin(1);
    out.uint(1, strings.of(type));
    out.uint(2, strings.of(unit));
    out.end(at);
  };
  valueType("samples", "count");
  valueType(periodType, periodUnit);
  const pidKey = strings.of("pid");
  const commKey = strings.of("comm");
  const comms = agg.processes.map((p) => (p.space?.comm ? strings.of(p.space.comm) : 0));
  const { arena, starts, procs, counts, periods } = stacks;
  for (let s = 0; s < stacks.size; s++) {
    const proc = procs[s]!;
    const sample = out.begin(2);
    out.packed(1, arena, starts[s]!, starts[s + 1]!, 1);
    const values = out.begin(2);
    out.varint(counts[s]!);
    out.varint(periods[s]!);
    out.end(values);
    const pid = out.begin(3);
    out.uint(1, pidKey);
    out.varint(3 << 3);
    out.varint(agg.processes[proc]!.pid);
    out.end(pid);
    const comm = comms[proc]!;
    if (comm !== 0) {
      const label = out.begin(3);
      out.uint(1, commKey);
      out.uint(2, comm);
      out.end(label);
    }
    out.end(sample);
  }
  // pprof takes the first mapping for the main binary: a file's before pseudo files ([vdso], the kernel), most samples first.
  const pseudo = (fileId: number) => (agg.files.get(fileId)!.path.startsWith("[") ? 1 : 0);
  const order = [...low.keys()].sort(
    (a, b) => pseudo(a) - pseudo(b) || agg.files.get(b)!.samples - agg.files.get(a)!.samples,
  );
  const mappingIds = new Map<number, number>();
  for (const fileId of order) {
    const file = agg.files.get(fileId)!;
    const start = (addressOf(low.get(fileId)!) / PAGE) * PAGE;
    const end = ((addressOf(high.get(fileId)!) + PAGE) / PAGE) * PAGE;
    const id = mappingIds.size + 1;
    mappingIds.set(fileId, id);
    const buildId = buildIds.get(fileId)?.buildId;
    const at = out.begin(3);
    out.uint(1, id);
    out.big(2, start);
    out.big(3, end > (1n << 64n) - PAGE ? (1n << 64n) - PAGE : end);
    out.big(4, start);
    out.uint(5, strings.of(file.path));
    if (buildId !== undefined) out.uint(6, strings.of(buildId));
    out.end(at);
  }
  for (let i = 0; i < n; i++) {
    const tag = tags[i]!;
    const mappingId = SampleAggregator.isFileTag(tag) ? mappingIds.get(tag)! : 0;
    const functionId = named?.functionOf[i] ?? 0;
    const at = out.begin(4);
    out.uint(1, i + 1);
    out.uint(2, mappingId);
    out.uint64(3, his[i]!, los[i]!);
    if (functionId !== 0) {
      const line = out.begin(4);
      out.uint(1, functionId);
      out.end(line);
    }
    out.end(at);
  }
  named?.names.forEach((name, i) => {
    const index = strings.of(name);
    const at = out.begin(5);
    out.uint(1, i + 1);
    out.uint(2, index);
    out.uint(3, index);
    out.end(at);
  });
  const comments = units.comments.map((c) => strings.of(c));
  const periodTypeIndex = [strings.of(periodType), strings.of(periodUnit)] as const;
  for (const text of strings.list) out.string(6, text);
  out.big(9, units.timeNanos);
  out.uint(10, units.durationNanos);
  const periodAt = out.begin(11);
  out.uint(1, periodTypeIndex[0]);
  out.uint(2, periodTypeIndex[1]);
  out.end(periodAt);
  out.uint(12, units.interval);
  for (const c of comments) out.uint(13, c);
  return out.finish();
}
