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

/** Encodes the profile (uncompressed protobuf bytes, profile.proto's field numbers). */
export function writeProfile(
  agg: SampleAggregator,
  buildIds: ReadonlyMap<number, FileBuildId>,
  units: ProfileUnits,
  names?: FrameNames,
): Uint8Array {
  const strings = new Strings();
  const { locations, stacks } = agg;
  const n = locations.size;
  const { tags, his, los } = locations;
  const low = new Map<number, bigint>();
  const high = new Map<number, bigint>();
  for (let i = 0; i < n; i++) {
    const tag = tags[i]!;
    if (!SampleAggregator.isFileTag(tag)) continue;
    const address = (BigInt(his[i]!) << 32n) | BigInt(los[i]!);
    const lo = low.get(tag);
    if (lo === undefined || address < lo) low.set(tag, address);
    const hi = high.get(tag);
    if (hi === undefined || address > hi) high.set(tag, address);
  }
  const out = new ProtoWriter();
  const inner = new ProtoWriter();
  const innermost = new ProtoWriter();
  const [periodType, periodUnit] = units.period;
  const valueType = (field: number, type: string, unit: string) =>
    out.message(field, inner, (w) => {
      w.uint(1, strings.of(type));
      w.uint(2, strings.of(unit));
    });
  valueType(1, "samples", "count");
  valueType(1, periodType, periodUnit);
  const pidKey = strings.of("pid");
  const commKey = strings.of("comm");
  const comms = agg.processes.map((p) => (p.space?.comm ? strings.of(p.space.comm) : 0));
  const values = [0, 0];
  for (let s = 0; s < stacks.size; s++) {
    const proc = stacks.procs[s]!;
    out.message(2, inner, (w) => {
      w.packed(1, innermost, stacks.arena, stacks.starts[s]!, stacks.starts[s + 1]!, 1);
      values[0] = stacks.counts[s]!;
      values[1] = stacks.periods[s]!;
      w.packed(2, innermost, values, 0, 2);
      w.message(3, innermost, (l) => {
        l.uint(1, pidKey);
        l.varint(3 << 3);
        l.varint(agg.processes[proc]!.pid);
      });
      const comm = comms[proc]!;
      if (comm !== 0)
        w.message(3, innermost, (l) => {
          l.uint(1, commKey);
          l.uint(2, comm);
        });
    });
  }
  // pprof takes the first mapping for the main binary: a file's before pseudo files ([vdso], the kernel), most samples first.
  const pseudo = (fileId: number) => (agg.files.get(fileId)!.path.startsWith("[") ? 1 : 0);
  const order = [...low.keys()].sort(
    (a, b) => pseudo(a) - pseudo(b) || agg.files.get(b)!.samples - agg.files.get(a)!.samples,
  );
  const mappingIds = new Map<number, number>();
  for (const fileId of order) {
    const lo = low.get(fileId)!;
    const file = agg.files.get(fileId)!;
    const start = (lo / PAGE) * PAGE;
    const end = ((high.get(fileId)! + PAGE) / PAGE) * PAGE;
    const id = mappingIds.size + 1;
    mappingIds.set(fileId, id);
    const buildId = buildIds.get(fileId)?.buildId;
    out.message(3, inner, (w) => {
      w.uint(1, id);
      w.big(2, start);
      w.big(3, end > (1n << 64n) - PAGE ? (1n << 64n) - PAGE : end);
      w.big(4, start);
      w.uint(5, strings.of(file.path));
      if (buildId !== undefined) w.uint(6, strings.of(buildId));
    });
  }
  const functions: string[] = [];
  for (let i = 0; i < n; i++) {
    const tag = tags[i]!;
    const mappingId = SampleAggregator.isFileTag(tag) ? mappingIds.get(tag)! : 0;
    let functionId = 0;
    if (mappingId === 0 && names !== undefined && tag !== 0xffffffff) {
      const name = names(agg.processes[tag & 0x7fffffff]!.pid, (BigInt(his[i]!) << 32n) | BigInt(los[i]!));
      if (name !== undefined) {
        functions.push(name);
        functionId = functions.length;
      }
    }
    out.message(4, inner, (w) => {
      w.uint(1, i + 1);
      w.uint(2, mappingId);
      w.uint64(3, his[i]!, los[i]!);
      if (functionId !== 0) w.message(4, innermost, (l) => l.uint(1, functionId));
    });
  }
  functions.forEach((name, i) => {
    const index = strings.of(name);
    out.message(5, inner, (w) => {
      w.uint(1, i + 1);
      w.uint(2, index);
      w.uint(3, index);
    });
  });
  const comments = units.comments.map((c) => strings.of(c));
  const periodTypeIndex = [strings.of(periodType), strings.of(periodUnit)] as const;
  for (const text of strings.list) out.string(6, text);
  out.big(9, units.timeNanos);
  out.uint(10, units.durationNanos);
  out.message(11, inner, (w) => {
    w.uint(1, periodTypeIndex[0]);
    w.uint(2, periodTypeIndex[1]);
  });
  out.uint(12, units.interval);
  for (const c of comments) out.uint(13, c);
  return out.finish();
}
