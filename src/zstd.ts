/**
 * zstd decoding through a {@link ZstdEngine} (fzstd: ./zstd-fzstd.ts; zstd's own in WebAssembly:
 * ./zstd-wasm.ts; Node's: ./node/zstd-native.ts), with the bounds fzstd lacks; universal (no Node built-ins).
 * A guard walks frame and block headers ahead of the decoder and feeds it one block at a time, because fzstd
 * allocates whatever window a frame names (up to 2 GiB) and moves its whole window after every block: a
 * stream of tiny blocks under a large window would cost a window's copy per few input bytes. No engine is
 * imported here: fzstd costs a process 4-6 ms to load, which a reader with another engine does not pay.
 *
 * @packageDocumentation
 */

const ZSTD_MAGIC = 0xfd2fb528;
/** zstd's largest block (`ZSTD_BLOCKSIZE_MAX`). */
const BLOCK_MAX = 128 * 1024;
/** Blocks a frame may hold beyond two per {@link BLOCK_MAX} of output, under {@link ZstdBounds.boundBlocks}. */
const SMALL_BLOCKS = 16;

/** Why a {@link ZstdDecoder} stopped: `TRUNCATED` input, a `LIMIT` passed, or `CORRUPT` data. */
export type ZstdFault = "TRUNCATED" | "LIMIT" | "CORRUPT";

/** Makes the caller's error for a {@link ZstdFault}; `detail` says what was wrong, with the values involved. */
export type ZstdFail = (fault: ZstdFault, detail: string) => Error;

/** The bounds a {@link ZstdDecoder} holds a stream to. */
export interface ZstdBounds {
  /** Largest window a frame may name (fzstd allocates it). */
  maxWindow: number;
  /**
   * Refuse a frame of far more blocks than its output needs (real encoders fill their blocks): off for
   * streams flushed often, as perf's, whose frame spans a whole session in small blocks.
   */
  boundBlocks?: boolean;
}

enum State {
  FrameHeader,
  BlockHeader,
  Skip,
}

/**
 * A zstd decoder: `stream` makes one for a stream. Its `decode` adds what a piece decodes to to the output it
 * holds and returns how many bytes it added; `take` hands all it holds over, as one array of its own or, when
 * `lend`, as a view the next call may overwrite. Neither keeps `piece`: the guard holds a block's start until
 * its end (zstd's decoder would give a raw block's bytes as they come, fzstd not) in one buffer it reuses and
 * passes views of it (fzstd keeps a piece under 18 bytes until more come: its adapter copies). The guard
 * takes the output a block at a time through `decode`'s generator, or a whole input's through `decodeAll`,
 * which checks its bound after each block (at most 128 KiB): an engine holds at most the bound and a block.
 */
export interface ZstdEngine {
  stream(fail: ZstdFail): {
    decode(piece: Uint8Array, final: boolean): number;
    take(lend?: boolean): Uint8Array;
  };
}

/** A streaming zstd decoder of one stream of frames, failing with the caller's errors. */
export class ZstdDecoder {
  private readonly decoder: ReturnType<ZstdEngine["stream"]>;
  private held: Uint8Array = new Uint8Array(0);
  private heldLength = 0;
  private output = 0;
  private state = State.FrameHeader;
  private readonly header = new Uint8Array(18);
  private headerLength = 0;
  private skip = 0;
  private afterSkip = State.BlockHeader;
  private checksum = false;
  private window = 0;
  private blocks = 0;
  private frameOutput = 0;
  private readonly blockHeader = new Uint8Array(3);
  private blockHeaderLength = 0;

  /** @param bounds what a stream may cost; @param fail makes the error thrown for a fault; @param engine decodes. */
  constructor(
    private readonly bounds: ZstdBounds,
    private readonly fail: ZstdFail,
    engine: ZstdEngine,
  ) {
    this.decoder = engine.stream(fail);
  }

  /** The bytes the next piece of the stream decodes to, one block's output at a time. */
  *decode(input: Uint8Array): Generator<Uint8Array> {
    for (let p = 0; p < input.length; ) {
      p = this.feed(input, p);
      if (this.output > 0) yield this.take();
    }
  }

  /** All the next piece decodes to (own array, or when `lend` a view the next call overwrites); undefined past `max` bytes. */
  decodeAll(input: Uint8Array, max: number, lend = false): Uint8Array | undefined {
    for (let p = 0; p < input.length; ) {
      p = this.feed(input, p);
      if (this.output > max) return;
    }
    return this.take(lend);
  }

  /** Ends the stream: what the decoder still holds; a fault if the stream stops inside a frame. */
  *end(): Generator<Uint8Array> {
    if (this.state !== State.FrameHeader || this.headerLength !== 0)
      throw this.fail("TRUNCATED", "the zstd stream ends inside a frame");
    this.push(new Uint8Array(0), true);
    if (this.output > 0) yield this.take();
  }

  private take(lend?: boolean): Uint8Array {
    this.output = 0;
    return this.decoder.take(lend);
  }

  // Feeds `input` from `p` to a block's end (or holds it); where it stopped.
  private feed(input: Uint8Array, p: number): number {
    const { next, ends } = this.step(input, p);
    let piece = input.subarray(p, next);
    if (!ends || this.heldLength > 0) {
      this.hold(piece);
      if (!ends) return next;
      piece = this.held.subarray(0, this.heldLength);
      this.heldLength = 0;
    }
    this.push(piece, false);
    return next;
  }

  private hold(piece: Uint8Array): void {
    const n = this.heldLength + piece.length;
    if (n > this.held.length) {
      const grown = new Uint8Array(Math.max(n, 2 * this.held.length));
      grown.set(this.held.subarray(0, this.heldLength));
      this.held = grown;
    }
    this.held.set(piece, this.heldLength);
    this.heldLength = n;
  }

  private push(piece: Uint8Array, final: boolean): void {
    const n = this.decoder.decode(piece, final);
    this.output += n;
    this.frameOutput += n;
  }

  // Bytes of `input` from `p` to the end of the current block (or skippable frame), or to its end; `ends` when a block ended.
  private step(input: Uint8Array, p: number): { next: number; ends: boolean } {
    while (p < input.length) {
      if (this.state === State.Skip) {
        const n = Math.min(this.skip, input.length - p);
        this.skip -= n;
        p += n;
        if (this.skip === 0) {
          this.state = this.afterSkip;
          return { next: p, ends: true };
        }
      } else if (this.state === State.FrameHeader) {
        this.header[this.headerLength++] = input[p++]!;
        this.frameHeader();
      } else {
        this.blockHeader[this.blockHeaderLength++] = input[p++]!;
        if (this.blockHeaderLength === 3 && this.block()) return { next: p, ends: true };
      }
    }
    return { next: p, ends: false };
  }

  private frameHeader(): void {
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
      throw this.fail("CORRUPT", `a zstd frame starts with 0x${magic.toString(16)}, not the magic 0xfd2fb528`);
    const descriptor = h[4]!;
    if (descriptor & 8) throw this.fail("CORRUPT", "a zstd frame header sets its reserved bit");
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
    if (window > this.bounds.maxWindow)
      throw this.fail(
        "LIMIT",
        `a zstd frame names a window of ${window} bytes, past the limit of ${this.bounds.maxWindow}`,
      );
    this.window = window;
    this.checksum = ((descriptor >> 2) & 1) === 1;
    this.blocks = 0;
    this.frameOutput = 0;
    this.headerLength = 0;
    this.blockHeaderLength = 0;
    this.state = State.BlockHeader;
  }

  // Reads a complete block header; true when the block has no bytes after it (an empty raw or last block).
  private block(): boolean {
    const b = this.blockHeader;
    const header = b[0]! | (b[1]! << 8) | (b[2]! << 16);
    this.blockHeaderLength = 0;
    const last = (header & 1) === 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw this.fail("CORRUPT", "a zstd block of the reserved type 3");
    if (size > BLOCK_MAX) throw this.fail("CORRUPT", `a zstd block of ${size} bytes, over the 128 KiB maximum`);
    if (this.bounds.boundBlocks && ++this.blocks > SMALL_BLOCKS + 2 * Math.ceil(this.frameOutput / BLOCK_MAX))
      throw this.fail(
        "LIMIT",
        `a zstd frame of ${this.blocks} blocks decodes to ${this.frameOutput} bytes: blocks this small under a window of ${this.window} bytes cost the decoder a window's copy each`,
      );
    const content = type === 1 ? 1 : size;
    return this.startSkip(content + (last && this.checksum ? 4 : 0), last ? State.FrameHeader : State.BlockHeader);
  }

  // Skips `bytes` of content, then reads `then`; true when there is nothing to skip.
  private startSkip(bytes: number, then: State): boolean {
    this.afterSkip = then;
    this.skip = bytes;
    this.state = bytes === 0 ? then : State.Skip;
    return bytes === 0;
  }
}
