/**
 * perf.data to pprof, streaming: records in perf's delivery order feed the address spaces, samples are
 * resolved against them at their time and aggregated as they come, and at the end each file gets its
 * build ID and the profile is written. Memory grows with distinct stacks, files and processes, never
 * with samples.
 *
 * @module
 */
import type { PerfEventAttr } from "../perf/attr.js";
import { realtimeOf, timesOnClock } from "../perf/header.js";
import type { OrderOptions, OrderStats } from "../perf/order.js";
import { type PerfDataSource, PerfDataStream, type PerfReadOptions, type PerfSession } from "../perf/reader.js";
import type { PerfRecord, RawRecord } from "../perf/records.js";
import type { RecordSink } from "../perf/splitter.js";
import { AddressSpaces, type AddressSpacesOptions, type FileRef } from "../spaces/index.js";
import { BuildIdFinder, type BuildIdSource, type FileBuildId, type ReadBuildId } from "./build-ids.js";
import { type FeedStats, SpaceFeed } from "./feed.js";
import { type FrameNames, type NamedFrames, nameFrames, writeProfile } from "./pprof.js";
import { HAS_TIME, type SampleArena, W } from "./sample-arena.js";
import { type AggregateLimits, type FrameFailure, SampleAggregator } from "./samples.js";
import { RoundWindows } from "./windows.js";

/** Options of {@link convertPerfData} and {@link PerfConverter}. */
export interface ConvertOptions {
  /** Reads a file's build ID where the recording has none (Node: by device and inode, see the Node entry). */
  readBuildId?: ReadBuildId;
  /** Names for unresolved frames (JIT code). */
  frameNames?: FrameNames;
  /** Bounds on the aggregation. */
  limits?: Partial<AggregateLimits>;
  /** Bounds on the address-space model. */
  spaces?: AddressSpacesOptions;
  /** Bounds on perf's ordering queue. */
  order?: OrderOptions;
  /** Bounds on reading (only when the converter reads the input itself). */
  read?: PerfReadOptions;
}

/** A file samples resolved into, in the summary. */
export interface FileSummary {
  /** The path it was mapped under (the kernel: `[kernel.kallsyms]_text`). */
  path: string;
  /** Its identity: `maj:min ino generation` (hex device, as perf prints it), `build-id`, or `path` for pseudo files and MMAP records. */
  identity: string;
  /** Its build ID, lowercase hex, or `undefined`. */
  buildId: string | undefined;
  /** Where the build ID came from. */
  source: BuildIdSource | undefined;
  /** Why it has no build ID. */
  reason: string | undefined;
  /** Samples whose IP lies in it, and their periods' sum. */
  samples: number;
  /** See {@link FileSummary.samples}. */
  period: number;
}

/** A process in the summary: one program run of a pid (an exec or a reused pid starts another). */
export interface ProcessSummary {
  /** Process ID. */
  pid: number;
  /** Its command name (after its last COMM), or "" when none was seen. */
  comm: string;
  /** Its samples and their periods' sum. */
  samples: number;
  /** See {@link ProcessSummary.samples}. */
  period: number;
  /** Per file (index into {@link ConversionSummary.files}), its samples there. */
  files: {
    /** The file, an index into {@link ConversionSummary.files}. */
    file: number;
    /** The process's samples whose IP is in that file. */
    samples: number;
    /** Their periods' sum. */
    period: number;
  }[];
  /** Per reason, its samples whose IP resolved to no file. */
  unresolved: Partial<Record<FrameFailure, number>>;
}

/** What a conversion found: processes, files with build IDs, sample counts, and what could not be resolved. */
export interface ConversionSummary {
  /** Samples converted, and their periods' sum. */
  samples: number;
  /** See {@link ConversionSummary.samples}. */
  period: number;
  /** Samples whose IP lies in a file with a build ID. */
  samplesWithBuildId: number;
  /** Per reason, samples whose IP resolved to no file. */
  unresolved: Partial<Record<FrameFailure, number>>;
  /** Frames (IPs and call chain entries) looked up, and how many resolved into a file. */
  frames: {
    /** Frames looked up. */
    total: number;
    /** Frames that resolved into a file. */
    resolved: number;
    /** Per reason, frames that did not. */
    unresolved: Partial<Record<FrameFailure, number>>;
  };
  /** Call chains perf would discard. */
  badChains: number;
  /** Files samples resolved into, most samples first. */
  files: FileSummary[];
  /** Processes with samples, most samples first. */
  processes: ProcessSummary[];
  /** PERF_RECORD_LOST records and the records they say were lost; PERF_RECORD_LOST_SAMPLES samples. */
  lost: {
    /** PERF_RECORD_LOST records. */
    records: number;
    /** The events they say were lost. */
    events: number;
    /** Samples PERF_RECORD_LOST_SAMPLES says were lost. */
    samples: number;
  };
  /** What the address-space feed did. */
  events: FeedStats;
  /** What perf's ordering did (records delivered late, half flushes). */
  order: OrderStats | undefined;
  /** The event the samples count (`cpu-clock`, `cycles`, ...), or several joined by ", ". */
  event: string;
}

/** A finished conversion. */
export interface PerfConversion {
  /** The pprof profile, uncompressed protobuf (gzip it for `.pb.gz`; `go tool pprof` reads either). */
  profile: Uint8Array;
  /** See {@link ConversionSummary}. */
  summary: ConversionSummary;
  /** With {@link ConvertOptions.frameNames}: the frames and samples it named. */
  named?: NamedFrames;
}

const RECORD_LOST_SAMPLES = 13;

function eventName(attr: PerfEventAttr): string {
  if (attr.type === 1) return ["cpu-clock", "task-clock"][Number(attr.config)] ?? `software/${attr.config}`;
  if (attr.type === 0) return ["cycles", "instructions"][Number(attr.config)] ?? `hardware/${attr.config}`;
  return `type${attr.type}/${attr.config}`;
}

function identityOf(file: FileRef): string {
  switch (file.kind) {
    case "inode": {
      const dev = `${file.major.toString(16).padStart(2, "0")}:${file.minor.toString(16).padStart(2, "0")}`;
      return `${dev} ${file.inode} ${file.generation ?? 0}`;
    }
    case "build-id":
      return "build-id";
    default:
      return "path";
  }
}

function record<K extends string>(map: ReadonlyMap<K, number>): Partial<Record<K, number>> {
  return Object.fromEntries(map) as Partial<Record<K, number>>;
}

/**
 * Converts perf.data records as they are read (raw records, in input order; {@link convertPerfData}
 * drives one over an input): see the module comment.
 */
export class PerfConverter {
  /** The address spaces the records built. */
  readonly spaces: AddressSpaces;
  readonly #feed: SpaceFeed;
  readonly #samples: SampleAggregator;
  readonly #finder: BuildIdFinder;
  readonly #windows: RoundWindows;
  readonly #options: ConvertOptions;
  #lostRecords = 0;
  #lostEvents = 0;
  #lostSamples = 0;
  /** The first and last sample times, as (high, low) words; the first starts past any time. */
  readonly #span = [2 ** 32, 0, 0, 0];
  #finished = false;

  /** @param options see {@link ConvertOptions} */
  constructor(options: ConvertOptions = {}) {
    this.#options = options;
    this.spaces = new AddressSpaces(options.spaces);
    this.#feed = new SpaceFeed(this.spaces);
    this.#samples = new SampleAggregator(this.spaces, options.limits);
    this.#finder = new BuildIdFinder(options.readBuildId);
    this.#windows = new RoundWindows(
      { event: (r) => this.#event(r), samples: (arena, starts, count) => this.#add(arena, starts, count) },
      options.order,
    );
  }

  /** Takes the next raw record of `session`, in input order. Throws the reader's errors for a malformed record. */
  push(raw: RawRecord, session: PerfSession): void {
    this.#windows.push(raw, session);
  }

  /** @internal A reader's sink for `session`'s records (`PerfDataStream.scan`). */
  sinkFor(session: PerfSession): RecordSink {
    return this.#windows.sinkFor(session);
  }

  #add(arena: SampleArena, starts: Int32Array, count: number): void {
    // In runs: V8 compiles #addRun once, not also mid-loop (OSR).
    for (let from = 0; from < count; from += 256)
      this.#addRun(arena.words, arena.ints, starts, from, Math.min(count, from + 256));
  }

  #addRun(w: Uint32Array, ints: Int32Array, starts: Int32Array, from: number, to: number): void {
    const agg = this.#samples;
    const span = this.#span;
    for (let k = from; k < to; k++) {
      const at = starts[k]!;
      if (w[at + W.MISC]! & HAS_TIME) {
        const hi = w[at + W.TIME_HI]!;
        const lo = w[at + W.TIME_LO]!;
        if (hi < span[0]! || (hi === span[0] && lo < span[1]!)) {
          span[0] = hi;
          span[1] = lo;
        }
        if (hi > span[2]! || (hi === span[2] && lo > span[3]!)) {
          span[2] = hi;
          span[3] = lo;
        }
      }
      agg.add(w, ints, at);
    }
  }

  #durationNanos(): number {
    const [firstHi, firstLo, lastHi, lastLo] = this.#span as [number, number, number, number];
    return firstHi > lastHi ? 0 : (lastHi - firstHi) * 2 ** 32 + (lastLo - firstLo);
  }

  /** The first sample's time of day (`perf script -F tod`) when CLOCK_DATA places the times; 0 otherwise. */
  #timeNanos(session: PerfSession): bigint {
    const [firstHi, firstLo, lastHi] = this.#span as [number, number, number, number];
    const clock = session.clock;
    if (firstHi > lastHi || clock === undefined || !timesOnClock(session.attrs, clock)) return 0n;
    const ns = realtimeOf(clock, (BigInt(firstHi) << 32n) | BigInt(firstLo));
    return ns > 0n ? ns : 0n;
  }

  #event(r: PerfRecord): void {
    switch (r.kind) {
      case "lost":
        this.#lostRecords++;
        this.#lostEvents += Number(r.lost);
        this.#samples.lost(r.time ?? this.#feed.latest);
        return;
      case "other":
        if (r.type === RECORD_LOST_SAMPLES) this.#lostSamples++;
        return;
      default: {
        const event = this.#feed.push(r);
        if (event === undefined) return;
        this.#samples.generation++;
        if (event.type === "map") this.#finder.mapped(event.file, event.path);
      }
    }
  }

  /**
   * Finds every sampled file's build ID and writes the profile. `session` supplies the build-ID table
   * and the event attributes; `order` is the orderer's stats, for the summary.
   */
  async finish(session: PerfSession): Promise<PerfConversion> {
    if (this.#finished) throw new Error("PerfConverter: finish() was already called");
    this.#finished = true;
    this.#windows.finish();
    const agg = this.#samples;
    agg.tally();
    const files = [...agg.files.values()];
    const answers = await Promise.all(files.map((f) => this.#finder.find(f.file, f.path, f.pid, session.buildIds)));
    const ids = new Map<number, FileBuildId>(files.map((f, i) => [f.fileId, answers[i]!]));
    const attrs = session.attrs;
    const event = [...new Set(attrs.map(eventName))].join(", ");
    const clock = attrs.length > 0 && attrs.every((a) => a.type === 1 && a.config <= 1n);
    const fixed = attrs.length === 1 && !attrs[0]!.freq ? Number(attrs[0]!.samplePeriod) : 0;
    const summary = this.#summary(ids, event, this.#windows.stats);
    const comments = [`converted from perf.data (${event}) by buildid-cache`];
    const unresolvedSamples = summary.samples - summary.samplesWithBuildId;
    if (unresolvedSamples > 0) comments.push(`${unresolvedSamples} samples have no build ID for their IP`);
    const named = this.#options.frameNames && nameFrames(agg, this.#options.frameNames);
    const profile = writeProfile(
      agg,
      ids,
      {
        period: clock ? ["cpu", "nanoseconds"] : [event.split(", ").length === 1 ? event : "events", "count"],
        interval: fixed,
        durationNanos: this.#durationNanos(),
        timeNanos: this.#timeNanos(session),
        comments,
      },
      named,
    );
    return named ? { profile, summary, named } : { profile, summary };
  }

  #summary(ids: ReadonlyMap<number, FileBuildId>, event: string, order: OrderStats | undefined): ConversionSummary {
    const agg = this.#samples;
    const seen = [...agg.files.values()].sort((a, b) => b.samples - a.samples || a.path.localeCompare(b.path));
    const index = new Map(seen.map((f, i) => [f.fileId, i]));
    const files: FileSummary[] = seen.map((f) => {
      const id = ids.get(f.fileId)!;
      return {
        path: f.path,
        identity: identityOf(f.file),
        buildId: id.buildId,
        source: id.buildId === undefined ? undefined : id.source,
        reason: id.buildId === undefined ? id.reason : undefined,
        samples: f.samples,
        period: f.period,
      };
    });
    const unresolved = new Map<FrameFailure, number>();
    const processes: ProcessSummary[] = agg.processes
      .filter((p) => p.samples > 0)
      .map((p) => {
        for (const [reason, n] of p.unresolved) unresolved.set(reason, (unresolved.get(reason) ?? 0) + n);
        return {
          pid: p.pid,
          comm: p.space?.comm ?? "",
          samples: p.samples,
          period: p.period,
          files: [...p.files]
            .map(([fileId, c]) => ({ file: index.get(fileId)!, samples: c.samples, period: c.period }))
            .sort((a, b) => b.samples - a.samples),
          unresolved: record(p.unresolved),
        };
      })
      .sort((a, b) => b.samples - a.samples || a.pid - b.pid);
    const c = agg.counts;
    return {
      samples: c.samples,
      period: c.period,
      samplesWithBuildId: files.reduce((sum, f) => sum + (f.buildId === undefined ? 0 : f.samples), 0),
      unresolved: record(unresolved),
      frames: { total: c.frames, resolved: c.framesResolved, unresolved: record(c.framesUnresolved) },
      badChains: c.badChains,
      files,
      processes,
      lost: { records: this.#lostRecords, events: this.#lostEvents, samples: this.#lostSamples },
      events: { ...this.#feed.stats },
      order,
      event,
    };
  }
}

/**
 * Converts perf.data (bytes, a Blob or File, or chunks as they arrive, e.g. `perf record -o -` piped in)
 * to a pprof profile and a summary; see {@link PerfConverter}. Records are ordered as perf orders them
 * (its rounds); without `sample_id_all` they are taken in input order, as perf takes them.
 */
export async function convertPerfData(
  source: PerfDataSource | PerfDataStream,
  options: ConvertOptions = {},
): Promise<PerfConversion> {
  const stream = source instanceof PerfDataStream ? source : new PerfDataStream(source, options.read);
  const converter = new PerfConverter(options);
  await stream.scan((session) => converter.sinkFor(session));
  return converter.finish(stream.session!);
}
