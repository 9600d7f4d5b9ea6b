// Decompresses the zstd stream of PERF_RECORD_COMPRESSED records. perf compresses a whole session as one
// zstd frame cut across records (perf's zstd_compress_stream_to_records), so the decoder must stream:
// fzstd's Decompress. A guard walks frame and block headers ahead of it, because fzstd allocates whatever
// window a frame header names (up to 2 GiB) and a record may expand without bound.

import { Decompress } from "fzstd";
import { PerfDataError } from "./errors.js";

const ZSTD_MAGIC = 0xfd2fb528;
/** zstd's largest block (`ZSTD_BLOCKSIZE_MAX`). */
const BLOCK_MAX = 128 * 1024;

enum State {
  FrameHeader,
  BlockHeader,
  Skip,
}

/** A streaming zstd decoder with bounds on its window and on what one input may expand to. */
export class ZstdStream {
  private readonly decoder: Decompress;
  private output: Uint8Array[] = [];
  private outputBytes = 0;
  private limitOffset = 0;
  private state = State.FrameHeader;
  private header = new Uint8Array(18);
  private headerLength = 0;
  private skip = 0;
  private afterSkip = State.BlockHeader;
  private lastBlock = false;
  private checksum = false;
  private block = new Uint8Array(3);
  private blockLength = 0;

  /**
   * @param maxWindow largest window a frame may name (fzstd allocates it)
   * @param maxOutput most bytes one {@link ZstdStream.push} may produce
   */
  constructor(
    private readonly maxWindow: number,
    private readonly maxOutput: number,
  ) {
    this.decoder = new Decompress((chunk) => {
      this.outputBytes += chunk.length;
      if (this.outputBytes > this.maxOutput)
        throw new PerfDataError(
          "LIMIT",
          this.limitOffset,
          `a compressed record expands past the limit of ${this.maxOutput} bytes`,
        );
      this.output.push(chunk);
    });
  }

  /** Decompresses the next piece of the stream (one record's payload at file `offset`); returns what it decodes to. */
  push(input: Uint8Array, offset: number): Uint8Array {
    this.limitOffset = offset;
    this.guard(input, offset);
    this.output = [];
    this.outputBytes = 0;
    try {
      this.decoder.push(input);
    } catch (error) {
      if (error instanceof PerfDataError) throw error;
      throw new PerfDataError("BAD_COMPRESSED", offset, `zstd cannot decode the record: ${(error as Error).message}`);
    }
    if (this.output.length === 1) return this.output[0]!;
    const out = new Uint8Array(this.outputBytes);
    let at = 0;
    for (const chunk of this.output) {
      out.set(chunk, at);
      at += chunk.length;
    }
    this.output = [];
    return out;
  }

  /** Walks the frame and block headers in `input`, refusing windows and blocks over the bounds before fzstd sees them. */
  private guard(input: Uint8Array, offset: number): void {
    let p = 0;
    while (p < input.length) {
      if (this.state === State.Skip) {
        const n = Math.min(this.skip, input.length - p);
        this.skip -= n;
        p += n;
        if (this.skip === 0) this.state = this.afterSkip;
      } else if (this.state === State.FrameHeader) {
        this.header[this.headerLength++] = input[p++]!;
        this.frameHeader(offset);
      } else {
        this.block[this.blockLength++] = input[p++]!;
        if (this.blockLength === 3) this.blockHeader(offset);
      }
    }
  }

  private frameHeader(offset: number): void {
    const h = this.header;
    const n = this.headerLength;
    if (n < 5) return;
    const magic = (h[0]! | (h[1]! << 8) | (h[2]! << 16) | (h[3]! << 24)) >>> 0;
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      if (n < 8) return;
      this.headerLength = 0;
      this.startSkip((h[4]! | (h[5]! << 8) | (h[6]! << 16) | (h[7]! << 24)) >>> 0, State.FrameHeader);
      return;
    }
    if (magic !== ZSTD_MAGIC)
      throw new PerfDataError(
        "BAD_COMPRESSED",
        offset,
        `zstd frame starts with 0x${magic.toString(16)}, not the magic 0xfd2fb528`,
      );
    const descriptor = h[4]!;
    const singleSegment = (descriptor >> 5) & 1;
    const dictBytes = [0, 1, 2, 4][descriptor & 3]!;
    const sizeFlag = descriptor >> 6;
    const sizeBytes = sizeFlag ? 1 << sizeFlag : singleSegment;
    const total = 5 + (1 - singleSegment) + dictBytes + sizeBytes;
    if (n < total) return;
    let window: number;
    if (singleSegment) {
      let size = 0;
      for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + h[total - sizeBytes + i]!;
      window = size + (sizeFlag === 1 ? 256 : 0);
    } else {
      const base = 2 ** (10 + (h[5]! >> 3));
      window = base + (base / 8) * (h[5]! & 7);
    }
    if (window > this.maxWindow)
      throw new PerfDataError(
        "LIMIT",
        offset,
        `zstd frame window of ${window} bytes exceeds the limit of ${this.maxWindow}`,
      );
    this.checksum = ((descriptor >> 2) & 1) === 1;
    this.headerLength = 0;
    this.blockLength = 0;
    this.state = State.BlockHeader;
  }

  private blockHeader(offset: number): void {
    const b = this.block;
    const header = b[0]! | (b[1]! << 8) | (b[2]! << 16);
    this.blockLength = 0;
    this.lastBlock = (header & 1) === 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw new PerfDataError("BAD_COMPRESSED", offset, "zstd block of the reserved type 3");
    if (size > BLOCK_MAX)
      throw new PerfDataError("BAD_COMPRESSED", offset, `zstd block of ${size} bytes, over the 128 KiB maximum`);
    const next = this.lastBlock ? State.FrameHeader : State.BlockHeader;
    const content = type === 1 ? 1 : size;
    if (this.lastBlock && this.checksum) this.startSkip(content + 4, next);
    else this.startSkip(content, next);
  }

  private startSkip(bytes: number, then: State): void {
    this.afterSkip = then;
    if (bytes === 0) this.state = then;
    else {
      this.skip = bytes;
      this.state = State.Skip;
    }
  }
}
