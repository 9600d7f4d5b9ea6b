// The reader: a session (byte order, attributes, feature data) over file-mode or pipe-mode input, yielding
// raw records from a whole Uint8Array (sync) or from chunks, a Blob or bytes (async, streaming).

import { AttrSet, type PerfEventAttr } from "./attr.js";
import { Feature, RecordType } from "./constants.js";
import { PerfDataError } from "./errors.js";
import {
  type BuildIdEntry,
  type CompressionInfo,
  FILE_HEADER_SIZE,
  type FileHeader,
  type PerfClock,
  PIPE_HEADER_SIZE,
  readAttrTable,
  readBuildIdTable,
  readClockData,
  readClockResolution,
  readCompressionInfo,
  readFeatureTable,
  readFileHeader,
  readMagic,
  type Section,
} from "./header.js";
import { type PerfRecord, parseRecord, type RawRecord } from "./records.js";
import { loadZstd, type RecordSink, Splitter } from "./splitter.js";

/**
 * Bounds on what reading one input may hold in memory; going past one is a {@link PerfDataError} with
 * code `LIMIT`. With them, a reader holds at most: one input chunk, one record (64 KiB, perf's u16 size),
 * the file's header region, its feature region, one zstd window and what one COMPRESSED record expands to.
 */
export interface PerfReadLimits {
  /** Bytes before the data section (header, attributes, their ids): 16 MiB. */
  maxHeaderBytes: number;
  /** Event attributes: 4,096. */
  maxAttrs: number;
  /** Sample IDs over all attributes: 1,048,576. */
  maxIds: number;
  /** Bytes after the data section (the feature sections) held to read the build-ID table: 64 MiB. */
  maxFeatureBytes: number;
  /** Bytes one COMPRESSED record may decompress to: 64 MiB (perf's own bound is its ring buffer, 516 KiB by default). */
  maxDecompressedBytes: number;
  /** The largest zstd window a frame may name: 8 MiB (`perf record -z` levels 1-19 use at most 8 MiB). */
  maxZstdWindow: number;
}

/** The default {@link PerfReadLimits}. */
export const DEFAULT_PERF_LIMITS: Readonly<PerfReadLimits> = Object.freeze({
  maxHeaderBytes: 16 * 1024 * 1024,
  maxAttrs: 4096,
  maxIds: 1 << 20,
  maxFeatureBytes: 64 * 1024 * 1024,
  maxDecompressedBytes: 64 * 1024 * 1024,
  maxZstdWindow: 8 * 1024 * 1024,
});

function limitsOf(options: PerfReadOptions | undefined): PerfReadLimits {
  const limits = { ...DEFAULT_PERF_LIMITS, ...options?.limits };
  for (const [name, value] of Object.entries(limits))
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`limits.${name} must be an integer >= 0, got ${String(value)}`);
  return limits;
}

/** Options of `readPerfData` and {@link streamPerfData}. */
export interface PerfReadOptions {
  /** Bounds on memory; see {@link PerfReadLimits}. */
  limits?: Partial<PerfReadLimits>;
}

/**
 * What the headers of one input say, filled in as the input is read: the byte order, the event attributes,
 * and the feature data this reader decodes. It parses the raw records of its input ({@link PerfSession.parse}).
 */
export class PerfSession {
  /** File mode (`perf record -o FILE`) or pipe mode (`-o -`). */
  readonly mode: "file" | "pipe";
  /** The input's byte order (perf reads files of either; so does this). */
  readonly littleEndian: boolean;
  /** @internal The attributes and how records are matched to them. */
  readonly attrSet = new AttrSet();
  /** Feature bits the file header lists (file mode) or the HEADER_FEATURE records seen (pipe mode). */
  readonly features: number[] = [];
  /**
   * The build-ID table: in file mode the BUILD_ID feature (read before the records when the input is
   * bytes or a Blob, after the last record when it is a stream of chunks); in pipe mode the
   * HEADER_BUILD_ID records seen so far.
   */
  readonly buildIds: BuildIdEntry[] = [];
  /** The COMPRESSED feature: how `perf record -z` compressed the data (see {@link PerfSession.buildIds} for when it is known). */
  compression: CompressionInfo | undefined;
  /** The CLOCK_DATA feature (`perf record -k`), known as {@link PerfSession.buildIds} is. */
  clock: PerfClock | undefined;
  /** The CLOCKID feature: the resolution of {@link PerfSession.clock}'s clock, ns. */
  clockResolutionNs: bigint | undefined;
  /** The data section (file mode): its byte offset and size. */
  readonly data: Section | undefined;
  /** @internal */
  readonly limits: PerfReadLimits;

  /** @internal */
  constructor(
    mode: "file" | "pipe",
    littleEndian: boolean,
    data: { offset: number; size: number } | undefined,
    limits: PerfReadLimits,
  ) {
    this.mode = mode;
    this.littleEndian = littleEndian;
    this.data = data;
    this.limits = limits;
  }

  /** The event attributes, in file order (pipe mode: those seen so far). */
  get attrs(): readonly PerfEventAttr[] {
    return this.attrSet.attrs;
  }

  /** Parses a raw record of this input into its typed form. */
  parse(raw: RawRecord): PerfRecord {
    return parseRecord(raw, this);
  }

  /** @internal Takes note of perf's own records that later records or callers depend on. */
  observe(raw: RawRecord): void {
    if (raw.type === RecordType.HEADER_ATTR) {
      const record = this.parse(raw);
      if (record.kind === "header-attr") this.attrSet.add(record.attr, raw.offset, this.limits.maxIds);
      if (this.attrSet.attrs.length > this.limits.maxAttrs)
        throw new PerfDataError(
          "LIMIT",
          raw.offset,
          `${this.attrSet.attrs.length} attributes exceed the limit of ${this.limits.maxAttrs}`,
        );
    } else if (raw.type === RecordType.HEADER_BUILD_ID) {
      const record = this.parse(raw);
      if (record.kind === "header-build-id")
        this.buildIds.push({
          pid: record.pid,
          buildId: record.buildId,
          filename: record.filename,
          misc: record.misc,
          offset: record.offset,
        });
    } else if (raw.type === RecordType.HEADER_FEATURE) {
      const record = this.parse(raw);
      if (record.kind === "header-feature") {
        this.features.push(record.feature);
        if (record.compression) this.compression = record.compression;
        else if (record.feature === Feature.CLOCK_DATA)
          this.clock = readClockData(record.data, raw.offset + 16, this.littleEndian);
        else if (record.feature === Feature.CLOCKID)
          this.clockResolutionNs = readClockResolution(record.data, raw.offset + 16, this.littleEndian);
      }
    }
  }

  /** @internal Reads the features this reader decodes from the bytes after the data section. */
  readFeatures(tail: Uint8Array, tailOffset: number, header: FileHeader): void {
    const sections = readFeatureTable(tail, tailOffset, header, this.littleEndian);
    const bytesOf = (s: { offset: number; size: number }) =>
      tail.subarray(s.offset - tailOffset, s.offset - tailOffset + s.size);
    const buildIds = sections.get(Feature.BUILD_ID);
    if (buildIds) this.buildIds.push(...readBuildIdTable(bytesOf(buildIds), buildIds.offset, this.littleEndian));
    const compression = sections.get(Feature.COMPRESSED);
    if (compression)
      this.compression = readCompressionInfo(bytesOf(compression), compression.offset, this.littleEndian);
    const clock = sections.get(Feature.CLOCK_DATA);
    if (clock) this.clock = readClockData(bytesOf(clock), clock.offset, this.littleEndian);
    const clockid = sections.get(Feature.CLOCKID);
    if (clockid) this.clockResolutionNs = readClockResolution(bytesOf(clockid), clockid.offset, this.littleEndian);
  }
}

/** Records per batch when a stream's input is already whole. */
const BATCH = 1024;
/** Bytes of a whole input cut into records at a time, so no more than a slice's records are held at once. */
const SLICE = 256 * 1024;

const USER_RECORDS_OBSERVED = new Set<number>([
  RecordType.HEADER_ATTR,
  RecordType.HEADER_BUILD_ID,
  RecordType.HEADER_FEATURE,
]);

/** Cuts `chunk` into `splitter`'s records and has `session` note perf's own records among them. */
function split(session: PerfSession, splitter: Splitter, chunk: Uint8Array, offset: number): RawRecord[] {
  const out: RawRecord[] = [];
  splitter.push(chunk, offset, out);
  observe(session, out, 0);
  return out;
}

function observe(session: PerfSession, out: RawRecord[], from: number): void {
  // Indexed, not for-of: before the optimising compiler runs, an iterator costs more than the loop's body.
  for (let i = from; i < out.length; i++) {
    const raw = out[i]!;
    if (raw.type >= 64 && USER_RECORDS_OBSERVED.has(raw.type)) session.observe(raw);
  }
}

/** Loads the zstd decoder the {@link Splitter.stalled} `splitter` waits for and finishes its chunk into `out`. */
async function resumeLoading(session: PerfSession, splitter: Splitter, out: RawRecord[]): Promise<void> {
  while (splitter.stalled) {
    await loadZstd();
    const from = out.length;
    splitter.resume(out);
    observe(session, out, from);
  }
}

/** Has `session` note perf's own records on their way to `target`, as {@link split} does. */
class ObservingSink implements RecordSink {
  readonly samples?: (bytes: Uint8Array, at: number, end: number) => number;

  constructor(
    private readonly session: PerfSession,
    private readonly target: RecordSink,
  ) {
    if (target.samples !== undefined) this.samples = (bytes, at, end) => target.samples!(bytes, at, end);
  }

  record(raw: RawRecord): void {
    if (raw.type >= 64 && USER_RECORDS_OBSERVED.has(raw.type)) this.session.observe(raw);
    this.target.record(raw);
  }

  sample(
    bytes: Uint8Array,
    bodyAt: number,
    bodyLength: number,
    misc: number,
    offset: number,
    compressed: boolean,
  ): void {
    this.target.sample(bytes, bodyAt, bodyLength, misc, offset, compressed);
  }
}

/** A splitter for `session`'s input that waits for the zstd decoder, sending its records to `sink` when one is given. */
function splitterFor(session: PerfSession, limits: PerfReadLimits, sink: RecordSink | undefined): Splitter {
  const splitter = new Splitter(session.littleEndian, limits, false, true);
  if (sink !== undefined) splitter.sendTo(new ObservingSink(session, sink));
  return splitter;
}

/** @internal Given the session before the first record: the sink for the records, or undefined to stop. */
export type ScanStart = (session: PerfSession) => RecordSink | undefined;

/** A whole perf.data file or pipe capture in memory: its session and its records. */
export class PerfData {
  /** What the headers say; see {@link PerfSession}. */
  readonly session: PerfSession;
  private readonly bytes: Uint8Array;

  /** @internal */
  constructor(bytes: Uint8Array, session: PerfSession) {
    this.bytes = bytes;
    this.session = session;
  }

  /** The raw records in file order, compressed ones followed by the records inside them. */
  *rawRecords(): Generator<RawRecord> {
    const { bytes, session } = this;
    const splitter = new Splitter(session.littleEndian, session.limits);
    const start = session.data ? session.data.offset : PIPE_HEADER_SIZE;
    const end = session.data ? start + session.data.size : bytes.length;
    for (let at = start; at < end; at += SLICE)
      yield* split(session, splitter, bytes.subarray(at, Math.min(end, at + SLICE)), at);
    splitter.finish(end);
  }

  /**
   * @internal The raw records in file order, one array per slice of the input (empty ones when `sink` takes
   * them; see {@link PerfDataStream.scan}), the zstd decoder loaded when a COMPRESSED record needs it.
   */
  async *slices(sink: RecordSink | undefined): AsyncGenerator<RawRecord[]> {
    const { bytes, session } = this;
    const splitter = splitterFor(session, session.limits, sink);
    const start = session.data ? session.data.offset : PIPE_HEADER_SIZE;
    const end = session.data ? start + session.data.size : bytes.length;
    for (let at = start; at < end; at += SLICE) {
      const out = split(session, splitter, bytes.subarray(at, Math.min(end, at + SLICE)), at);
      if (splitter.stalled) await resumeLoading(session, splitter, out);
      yield out;
    }
    splitter.finish(end);
  }

  /** The records in file order, parsed (see {@link PerfSession.parse}); order them by time with `orderRecords`. */
  *records(): Generator<PerfRecord> {
    for (const raw of this.rawRecords()) yield this.session.parse(raw);
  }
}

function openFile(
  bytes: Uint8Array,
  le: boolean,
  limits: PerfReadLimits,
  fileSize: number | undefined,
): { header: FileHeader; session: PerfSession } {
  const header = readFileHeader(bytes, le, fileSize);
  if (header.data.offset > limits.maxHeaderBytes)
    throw new PerfDataError(
      "LIMIT",
      40,
      `the ${header.data.offset} bytes before the data section exceed the limit of ${limits.maxHeaderBytes}`,
    );
  const session = new PerfSession("file", le, header.data, limits);
  session.features.push(...header.features);
  return { header, session };
}

function addAttrs(session: PerfSession, region: Uint8Array, header: FileHeader): void {
  const limits = session.limits;
  for (const attr of readAttrTable(region, header, session.littleEndian, limits))
    session.attrSet.add(attr, header.attrs.offset, limits.maxIds);
  if (session.attrSet.attrs.length === 0) throw new PerfDataError("BAD_HEADER", 24, "the file has no event attributes");
}

/** @internal `readPerfData` without the zstd decoder, which {@link PerfDataStream} loads when a record needs it. */
export function openPerfData(bytes: Uint8Array, options?: PerfReadOptions): PerfData {
  if (!(bytes instanceof Uint8Array))
    throw new TypeError(`bytes must be a Uint8Array, got ${Object.prototype.toString.call(bytes)}`);
  const limits = limitsOf(options);
  const magic = readMagic(bytes);
  if (magic.mode === "pipe") return new PerfData(bytes, new PerfSession("pipe", magic.littleEndian, undefined, limits));
  const { header, session } = openFile(bytes, magic.littleEndian, limits, bytes.length);
  addAttrs(session, bytes.subarray(0, header.data.offset), header);
  const tailOffset = header.data.offset + header.data.size;
  if (header.features.length > 0) {
    if (bytes.length - tailOffset > limits.maxFeatureBytes)
      throw new PerfDataError(
        "LIMIT",
        tailOffset,
        `the ${bytes.length - tailOffset} bytes of feature sections exceed the limit of ${limits.maxFeatureBytes}`,
      );
    session.readFeatures(bytes.subarray(tailOffset), tailOffset, header);
  }
  return new PerfData(bytes, session);
}

/** Input of {@link streamPerfData}: bytes, a Blob (a browser `File`, Node's `fs.openAsBlob`), or chunks as they arrive. */
export type PerfDataSource = Uint8Array | Blob | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Reads exactly the bytes asked for from a chunk iterator, then hands back the rest of the chunks. */
class ChunkQueue {
  private pending: Uint8Array | undefined;
  private done = false;
  /** Input offset of the next byte. */
  position = 0;

  constructor(private readonly chunks: AsyncIterator<Uint8Array> | Iterator<Uint8Array>) {}

  /** The next chunk (or undefined at the end). */
  async next(): Promise<Uint8Array | undefined> {
    if (this.pending) {
      const chunk = this.pending;
      this.pending = undefined;
      this.position += chunk.length;
      return chunk;
    }
    while (!this.done) {
      const step = await this.chunks.next();
      if (step.done) {
        this.done = true;
        break;
      }
      const chunk = step.value;
      if (!(chunk instanceof Uint8Array))
        throw new TypeError(`chunks must be Uint8Arrays, got ${Object.prototype.toString.call(chunk)}`);
      if (chunk.length === 0) continue;
      this.position += chunk.length;
      return chunk;
    }
    return undefined;
  }

  /** Exactly `n` bytes (fewer only at the end of the input). */
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = await this.next();
      if (!chunk) return out.subarray(0, filled);
      const take = Math.min(n - filled, chunk.length);
      out.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take < chunk.length) this.unread(chunk.subarray(take));
    }
    return out;
  }

  /** Puts back the unused end of the last chunk. */
  unread(rest: Uint8Array): void {
    this.pending = rest;
    this.position -= rest.length;
  }

  /** Ends the underlying iterator early. */
  async close(): Promise<void> {
    if (!this.done) await this.chunks.return?.();
  }
}

/** Chunks of a Blob, through its reader (browsers without async iteration of ReadableStream included). */
async function* blobChunks(blob: Blob): AsyncGenerator<Uint8Array> {
  const reader = blob.stream().getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

async function blobBytes(blob: Blob, start: number, end: number): Promise<Uint8Array> {
  return new Uint8Array(await blob.slice(start, end).arrayBuffer());
}

/**
 * Reads perf.data as a stream: pipe mode record by record as chunks arrive (`perf record -o -` piped in),
 * file mode by streaming its data section, so an input larger than memory converts within the
 * {@link PerfReadLimits}. From bytes or a Blob the header and the feature sections are read first (so
 * {@link PerfSession.buildIds} is complete before the first record); from chunks the feature sections
 * come after the data, at the end.
 */
export class PerfDataStream {
  private sessionValue: PerfSession | undefined;
  private readonly limits: PerfReadLimits;
  private started = false;
  private start: ScanStart | undefined;

  /** @param source the input; @param options limits */
  constructor(
    private readonly source: PerfDataSource,
    options?: PerfReadOptions,
  ) {
    const isIterable =
      source !== null &&
      typeof source === "object" &&
      (Symbol.asyncIterator in source ||
        Symbol.iterator in source ||
        (typeof Blob !== "undefined" && source instanceof Blob));
    if (!isIterable)
      throw new TypeError(
        `source must be a Uint8Array, a Blob or an iterable of Uint8Array chunks, got ${Object.prototype.toString.call(source)}`,
      );
    this.limits = limitsOf(options);
  }

  /** The session; defined once the first record has been read (or iteration has begun and read the headers). */
  get session(): PerfSession | undefined {
    return this.sessionValue;
  }

  /**
   * The raw records in input order, one array per input chunk: the fast way through a stream, one
   * await per chunk instead of one per record. One pass: a stream is read once.
   */
  async *rawBatches(): AsyncGenerator<RawRecord[]> {
    if (this.started) throw new Error("PerfDataStream: the input was already read; a stream is read once");
    this.started = true;
    const source = this.source;
    if (source instanceof Uint8Array) {
      const data = openPerfData(source, { limits: this.limits });
      this.sessionValue = data.session;
      if (this.start !== undefined) {
        const sink = this.start(data.session);
        if (sink !== undefined) for await (const _ of data.slices(sink));
        return;
      }
      let batch: RawRecord[] = [];
      for await (const slice of data.slices(undefined))
        for (const raw of slice) {
          batch.push(raw);
          if (batch.length === BATCH) {
            yield batch;
            batch = [];
          }
        }
      if (batch.length > 0) yield batch;
    } else if (typeof Blob !== "undefined" && source instanceof Blob) yield* this.fromBlob(source);
    else yield* this.fromChunks(source as AsyncIterable<Uint8Array> | Iterable<Uint8Array>);
  }

  /** @internal Reads the input once, its records in input order to the sink `start` gives (samples as bytes). */
  async scan(start: ScanStart): Promise<void> {
    this.start = start;
    for await (const _ of this.rawBatches());
  }

  /** The sink {@link PerfDataStream.scan} reads to (null: stop; undefined: batches are read). */
  private begin(session: PerfSession): RecordSink | undefined | null {
    this.sessionValue = session;
    if (this.start === undefined) return undefined;
    return this.start(session) ?? null;
  }

  /** The raw records in input order (see {@link PerfData.rawRecords}). One pass: a stream is read once. */
  async *rawRecords(): AsyncGenerator<RawRecord> {
    for await (const batch of this.rawBatches()) yield* batch;
  }

  /** The records in input order, parsed, one array per input chunk (see {@link PerfDataStream.rawBatches}). */
  async *batches(): AsyncGenerator<PerfRecord[]> {
    for await (const batch of this.rawBatches()) yield batch.map((raw) => this.sessionValue!.parse(raw));
  }

  /** The records in input order, parsed. */
  async *records(): AsyncGenerator<PerfRecord> {
    for await (const batch of this.batches()) yield* batch;
  }

  private async *fromBlob(blob: Blob): AsyncGenerator<RawRecord[]> {
    const first = await blobBytes(blob, 0, FILE_HEADER_SIZE);
    const magic = readMagic(first);
    if (magic.mode === "pipe") {
      yield* this.fromChunks(blobChunks(blob));
      return;
    }
    const { header, session } = openFile(first, magic.littleEndian, this.limits, blob.size);
    addAttrs(session, await blobBytes(blob, 0, header.data.offset), header);
    const tailOffset = header.data.offset + header.data.size;
    if (header.features.length > 0) {
      if (blob.size - tailOffset > this.limits.maxFeatureBytes)
        throw new PerfDataError(
          "LIMIT",
          tailOffset,
          `the ${blob.size - tailOffset} bytes of feature sections exceed the limit of ${this.limits.maxFeatureBytes}`,
        );
      session.readFeatures(await blobBytes(blob, tailOffset, blob.size), tailOffset, header);
    }
    const sink = this.begin(session);
    if (sink === null) return;
    const splitter = splitterFor(session, this.limits, sink);
    let offset = header.data.offset;
    for await (const chunk of blobChunks(blob.slice(header.data.offset, tailOffset))) {
      const out = split(session, splitter, chunk, offset);
      if (splitter.stalled) await resumeLoading(session, splitter, out);
      yield out;
      offset += chunk.length;
    }
    if (offset !== tailOffset)
      throw new PerfDataError("TRUNCATED", offset, `the data section ends at ${tailOffset}, the Blob at ${offset}`);
    splitter.finish(offset);
  }

  private async *fromChunks(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<RawRecord[]> {
    const iterator =
      Symbol.asyncIterator in chunks
        ? chunks[Symbol.asyncIterator]()
        : (chunks as Iterable<Uint8Array>)[Symbol.iterator]();
    const queue = new ChunkQueue(iterator);
    try {
      const start = await queue.read(PIPE_HEADER_SIZE);
      const magic = readMagic(start);
      let session: PerfSession;
      let dataEnd = Number.POSITIVE_INFINITY;
      let header: FileHeader | undefined;
      if (magic.mode === "pipe") session = new PerfSession("pipe", magic.littleEndian, undefined, this.limits);
      else {
        const rest = await queue.read(FILE_HEADER_SIZE - PIPE_HEADER_SIZE);
        const first = new Uint8Array(FILE_HEADER_SIZE);
        first.set(start);
        first.set(rest, PIPE_HEADER_SIZE);
        ({ header, session } = openFile(
          first.subarray(0, start.length + rest.length),
          magic.littleEndian,
          this.limits,
          undefined,
        ));
        const region = new Uint8Array(header.data.offset);
        region.set(first);
        const more = await queue.read(header.data.offset - FILE_HEADER_SIZE);
        region.set(more, FILE_HEADER_SIZE);
        if (more.length < header.data.offset - FILE_HEADER_SIZE)
          throw new PerfDataError(
            "TRUNCATED",
            FILE_HEADER_SIZE + more.length,
            `the input ends before the data section at ${header.data.offset}`,
          );
        addAttrs(session, region, header);
        dataEnd = header.data.offset + header.data.size;
      }
      const sink = this.begin(session);
      if (sink === null) return;
      const splitter = splitterFor(session, this.limits, sink);
      const tail: Uint8Array[] = [];
      let tailBytes = 0;
      for (;;) {
        const offset = queue.position;
        const chunk = await queue.next();
        if (!chunk) break;
        const inData = Math.max(0, Math.min(chunk.length, dataEnd - offset));
        if (inData > 0) {
          const out = split(session, splitter, inData === chunk.length ? chunk : chunk.subarray(0, inData), offset);
          if (splitter.stalled) await resumeLoading(session, splitter, out);
          yield out;
        }
        if (inData < chunk.length && header) {
          tailBytes += chunk.length - inData;
          if (tailBytes > this.limits.maxFeatureBytes)
            throw new PerfDataError(
              "LIMIT",
              dataEnd,
              `the ${tailBytes} bytes after the data section exceed the limit of ${this.limits.maxFeatureBytes}`,
            );
          tail.push(chunk.slice(inData));
        }
      }
      const end = Math.min(queue.position, dataEnd);
      if (header && queue.position < dataEnd)
        throw new PerfDataError(
          "TRUNCATED",
          queue.position,
          `the input ends inside the data section, which ends at ${dataEnd}`,
        );
      splitter.finish(end);
      if (header && header.features.length > 0) {
        const bytes = new Uint8Array(tailBytes);
        let at = 0;
        for (const part of tail) {
          bytes.set(part, at);
          at += part.length;
        }
        session.readFeatures(bytes, dataEnd, header);
      }
    } finally {
      await queue.close();
    }
  }
}

/** Opens perf.data from bytes, a Blob or chunks for streaming; see {@link PerfDataStream}. */
export function streamPerfData(source: PerfDataSource, options?: PerfReadOptions): PerfDataStream {
  return new PerfDataStream(source, options);
}
