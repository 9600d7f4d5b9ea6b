// Cuts a byte stream into records (perf's reader__read_event and process_pipe_events): a record may span
// input chunks (it is then copied once into its own buffer), AUXTRACE payloads are skipped, and COMPRESSED
// records are decompressed into an inner splitter whose records may span COMPRESSED records too.

import type { ZstdEngine } from "../zstd.js";
import { RecordType } from "./constants.js";
import { PerfDataError } from "./errors.js";
import type { RawRecord } from "./records.js";
import type { ZstdStream } from "./zstd.js";

/** The zstd decoder, once loaded or provided: loaded only for `-z` recordings. */
let zstdStream: typeof ZstdStream | undefined;
/** zstd's own decoder (../zstd-wasm.ts) or Node's for the streaming reader's splitters: no warm-up, as fzstd has. */
let engine: ZstdEngine | undefined;
/** fzstd (../zstd-fzstd.ts), the synchronous readers' engine: 4-6 ms of a process to load, so given with them. */
let fzstd: ZstdEngine | undefined;

/** @internal Gives the splitters the zstd decoder and fzstd now, for the synchronous readers (the public entry does). */
export function provideZstd(decoder: typeof ZstdStream, engine: ZstdEngine): void {
  zstdStream = decoder;
  fzstd = engine;
}

/** The platform's own zstd, where the Node entry or the CLI gave one (../node/zstd-native.ts). */
let platform: (() => ZstdEngine | undefined) | undefined;

/** @internal Has the streaming readers decode with the engine `load` gives when one is needed, the wasm build where it gives none. */
export function provideZstdEngine(load: (() => ZstdEngine | undefined) | undefined): void {
  platform = load;
  engine = undefined;
}

/** @internal Loads the zstd decoder, which a splitter that {@link Splitter.stalled} waits for. */
export async function loadZstd(): Promise<void> {
  engine ??= platform?.();
  const [loaded, wasm] = await Promise.all([import("./zstd.js"), engine ? undefined : import("../zstd-wasm.js")]);
  engine ??= (await wasm?.loadZstdEngine()) ?? (await import("../zstd-fzstd.js")).fzstdEngine;
  zstdStream ??= loaded.ZstdStream;
}

/** The bounds a splitter works within. */
export interface SplitterLimits {
  maxDecompressedBytes: number;
  maxZstdWindow: number;
}

/** Bytes of `struct perf_event_header`. */
const HEADER = 8;

/** @internal Takes a splitter's records in input order: a SAMPLE as bytes (no objects), the others as RawRecords. */
export interface RecordSink {
  /** A record other than a sample. */
  record(raw: RawRecord): void;
  /** A SAMPLE: its body is `bytes.buffer`'s `bodyLength` bytes from `bodyAt`; the rest as in a RawRecord. */
  sample(
    bytes: Uint8Array,
    bodyAt: number,
    bodyLength: number,
    misc: number,
    offset: number,
    compressed: boolean,
  ): void;
  /**
   * Optional: takes the whole SAMPLE records of `bytes` from `at` on (up to `end`) as `sample` would, and
   * returns where it stopped; the splitter goes on from there (a record it did not take goes to `record` or `sample`).
   */
  samples?(bytes: Uint8Array, at: number, end: number): number;
}

/** A push parser of perf records over chunks of one stream. */
export class Splitter {
  private carry: Uint8Array | undefined;
  private carryLength = 0;
  private carryOffset = 0;
  private skip = 0;
  private zstd: ZstdStream | undefined;
  private inner: Splitter | undefined;
  private sink: RecordSink | undefined;
  private waiting: { payload: Uint8Array; offset: number } | undefined;
  private rest: { chunk: Uint8Array; offset: number } | undefined;

  /**
   * @param le the stream's byte order
   * @param limits bounds on decompression
   * @param decompressed whether this splitter reads the decompressed stream (its records take the COMPRESSED record's offset, and may not be compressed again)
   * @param canWait whether a COMPRESSED record met before the decoder is loaded stops {@link Splitter.push} there (see {@link Splitter.stalled}) rather than failing
   */
  constructor(
    private readonly le: boolean,
    private readonly limits: SplitterLimits,
    private readonly decompressed = false,
    private readonly canWait = false,
  ) {}

  /** Whether `push` stopped after a COMPRESSED record for the decoder: {@link loadZstd}, then {@link Splitter.resume}. */
  get stalled(): boolean {
    return this.waiting !== undefined;
  }

  /** Decodes the COMPRESSED record `push` stopped at and cuts the rest of its chunk, appending to `out`. */
  resume(out: RawRecord[]): void {
    const { payload, offset } = this.waiting!;
    const rest = this.rest!;
    this.waiting = undefined;
    this.rest = undefined;
    this.decode(payload, offset, out);
    this.push(rest.chunk, rest.offset, out);
  }

  /** Appends to `out` the records completed by `chunk`, whose first byte is at input offset `offset`. */
  push(chunk: Uint8Array, offset: number, out: RawRecord[]): void {
    const length = chunk.length;
    let p = 0;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, length - p);
        this.skip -= n;
        p += n;
      }
      if (this.carryLength === 0) break;
      p = this.fillCarry(chunk, p);
      const carry = this.carry!;
      if (this.carryLength < HEADER || this.carryLength < this.sizeAt(carry, 0)) return;
      // perf gives a record completed by a later COMPRESSED record that record's offset (decomp->file_pos).
      const at = this.decompressed ? offset : this.carryOffset;
      this.carry = undefined;
      this.carryLength = 0;
      this.emit(carry, 0, carry.length, at, out);
      if (this.waiting !== undefined) {
        this.stall(chunk, p, offset);
        return;
      }
    }
    const sink = this.sink;
    while (p + HEADER <= length) {
      if (sink?.samples !== undefined) {
        p = sink.samples(chunk, p, length);
        if (p + HEADER > length) break;
      }
      const size = this.sizeAt(chunk, p);
      if (size < HEADER) throw this.tooSmall(size, this.decompressed ? offset : offset + p);
      if (p + size > length) break;
      this.emit(chunk, p, size, this.decompressed ? offset : offset + p, out);
      p += size;
      if (this.waiting !== undefined) {
        this.stall(chunk, p, offset);
        return;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, length - p);
        this.skip -= n;
        p += n;
      }
    }
    if (p < length) {
      this.carry = new Uint8Array(HEADER);
      this.carryLength = 0;
      this.carryOffset = this.decompressed ? offset : offset + p;
      this.fillCarry(chunk, p);
    }
  }

  private stall(chunk: Uint8Array, p: number, offset: number): void {
    this.rest = { chunk: chunk.subarray(p), offset: offset + p };
  }

  /** @internal Sends the records to `sink`, not to `push`'s array. */
  sendTo(sink: RecordSink): void {
    this.sink = sink;
  }

  /** Checks the stream ended between records; `offset` is where it ended. */
  finish(offset: number): void {
    if (this.carryLength > 0)
      throw new PerfDataError("TRUNCATED", this.carryOffset, `the input ends ${this.carryLength} bytes into a record`);
    if (this.skip > 0)
      throw new PerfDataError(
        "TRUNCATED",
        offset,
        `the input ends ${this.skip} bytes before the end of an AUXTRACE payload`,
      );
    this.inner?.finish(offset);
  }

  /** Copies bytes of `chunk` from `p` into the carried partial record, growing it once its size is known. */
  private fillCarry(chunk: Uint8Array, p: number): number {
    let carry = this.carry!;
    if (this.carryLength < HEADER) {
      const n = Math.min(HEADER - this.carryLength, chunk.length - p);
      carry.set(chunk.subarray(p, p + n), this.carryLength);
      this.carryLength += n;
      p += n;
      if (this.carryLength < HEADER) return p;
      const size = this.sizeAt(carry, 0);
      if (size < HEADER) throw this.tooSmall(size, this.carryOffset);
      const grown = new Uint8Array(size);
      grown.set(carry.subarray(0, HEADER));
      this.carry = carry = grown;
    }
    const n = Math.min(carry.length - this.carryLength, chunk.length - p);
    carry.set(chunk.subarray(p, p + n), this.carryLength);
    this.carryLength += n;
    return p + n;
  }

  private sizeAt(bytes: Uint8Array, at: number): number {
    return this.le ? bytes[at + 6]! | (bytes[at + 7]! << 8) : (bytes[at + 6]! << 8) | bytes[at + 7]!;
  }

  private tooSmall(size: number, offset: number): PerfDataError {
    return new PerfDataError("BAD_RECORD", offset, `record size ${size} is below the ${HEADER}-byte record header`);
  }

  private emit(bytes: Uint8Array, at: number, size: number, offset: number, out: RawRecord[]): void {
    const le = this.le;
    const type = le
      ? (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0
      : ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
    const misc = le ? bytes[at + 4]! | (bytes[at + 5]! << 8) : (bytes[at + 4]! << 8) | bytes[at + 5]!;
    const sink = this.sink;
    if (sink !== undefined && type === RecordType.SAMPLE) {
      sink.sample(bytes, bytes.byteOffset + at + HEADER, size - HEADER, misc, offset, this.decompressed);
      return;
    }
    const body =
      sink !== undefined && this.decompressed
        ? bytes.slice(at + HEADER, at + size)
        : bytes.subarray(at + HEADER, at + size);
    const raw: RawRecord = { type, misc, size, offset, compressed: this.decompressed, body };
    if (sink !== undefined) sink.record(raw);
    else out.push(raw);
    if (type === RecordType.AUXTRACE && body.length >= 8)
      this.skip = this.u64(body, 0, offset, "AUXTRACE payload size");
    else if (type === RecordType.COMPRESSED || type === RecordType.COMPRESSED2)
      this.decompress(type, body, offset, out);
  }

  private decompress(type: number, body: Uint8Array, offset: number, out: RawRecord[]): void {
    if (this.decompressed) throw new PerfDataError("BAD_RECORD", offset, "a COMPRESSED record inside compressed data");
    let payload = body;
    if (type === RecordType.COMPRESSED2) {
      if (body.length < 8)
        throw new PerfDataError(
          "BAD_RECORD",
          offset,
          `COMPRESSED2 record of ${body.length + HEADER} bytes has no data_size`,
        );
      const size = this.u64(body, 0, offset, "COMPRESSED2 data_size");
      if (size > body.length - 8)
        throw new PerfDataError(
          "BAD_RECORD",
          offset,
          `COMPRESSED2 data_size ${size} runs past its ${body.length - 8}-byte payload`,
        );
      payload = body.subarray(8, 8 + size);
    }
    if (this.zstd === undefined && zstdStream === undefined) {
      if (!this.canWait)
        throw new PerfDataError(
          "BAD_COMPRESSED",
          offset,
          "a COMPRESSED record, and no zstd decoder: read it through buildid-cache/perf or streamPerfData",
        );
      this.waiting = { payload, offset };
      return;
    }
    this.decode(payload, offset, out);
  }

  private decode(payload: Uint8Array, offset: number, out: RawRecord[]): void {
    this.zstd ??= new zstdStream!(
      this.limits.maxZstdWindow,
      this.limits.maxDecompressedBytes,
      // One of the two is set wherever zstdStream is: loadZstd sets engine, provideZstd fzstd.
      (this.canWait ? (engine ?? fzstd) : (fzstd ?? engine))!,
    );
    if (this.inner === undefined) {
      this.inner = new Splitter(this.le, this.limits, true);
      if (this.sink !== undefined) this.inner.sendTo(this.sink);
    }
    // A sink's records lend the decoder's output: sinks copy samples, emit the other bodies, the carry the rest.
    this.inner.push(this.zstd.push(payload, offset, this.sink !== undefined), offset, out);
  }

  private u64(bytes: Uint8Array, at: number, offset: number, what: string): number {
    const value = new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigUint64(0, this.le);
    if (value > BigInt(Number.MAX_SAFE_INTEGER))
      throw new PerfDataError("BAD_RECORD", offset, `${what} ${value} is past 2^53`);
    return Number(value);
  }
}
