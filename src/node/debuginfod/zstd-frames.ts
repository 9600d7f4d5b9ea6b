// Streaming zstd decoding through fzstd, with the bounds fzstd lacks. A guard walks frame and block
// headers ahead of the decoder and feeds it one block at a time, because fzstd allocates whatever
// window a frame names (up to 2 GiB) and moves its whole window after every block: a stream of tiny
// blocks under a large window would cost a window's copy per few input bytes.
import { Decompress, type ZstdError } from "fzstd";

const ZSTD_MAGIC = 0xfd2fb528;
/** zstd's largest block (`ZSTD_BLOCKSIZE_MAX`). */
const BLOCK_MAX = 128 * 1024;
/** Blocks a frame may hold beyond two per {@link BLOCK_MAX} of output: real encoders fill their blocks. */
const SMALL_BLOCKS = 16;
/** fzstd's code for input that ends inside a frame. */
const UNEXPECTED_EOF = 5;

/** Why {@link zstdDecode} stopped: `TRUNCATED` input, a `LIMIT` passed, or `CORRUPT` data. */
export type ZstdFault = "TRUNCATED" | "LIMIT" | "CORRUPT";

enum State {
  FrameHeader,
  BlockHeader,
  Skip,
}

// Walks one stream's headers; `step` returns how many bytes of `input` from `p` belong to the current
// piece and whether a block (or skippable frame) ends there.
class Guard {
  state = State.FrameHeader;
  header = new Uint8Array(18);
  headerLength = 0;
  skip = 0;
  afterSkip = State.BlockHeader;
  checksum = false;
  window = 0;
  blocks = 0;
  frameOutput = 0;
  blockHeader = new Uint8Array(3);
  blockHeaderLength = 0;

  constructor(
    readonly maxWindow: number,
    readonly fail: (fault: ZstdFault, detail: string) => Error,
  ) {}

  /** Whether the stream is between frames (a clean place for it to end). */
  get atFrameStart(): boolean {
    return this.state === State.FrameHeader && this.headerLength === 0;
  }

  /** Bytes of `input` from `p` up to and including the end of the current block, or to its end; `ends` when a block ended. */
  step(input: Uint8Array, p: number): { next: number; ends: boolean } {
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
        if (this.blockHeaderLength === 3) this.block();
      }
    }
    return { next: p, ends: false };
  }

  frameHeader(): void {
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
    if (window > this.maxWindow)
      throw this.fail("LIMIT", `a zstd frame names a window of ${window} bytes, past the limit of ${this.maxWindow}`);
    this.window = window;
    this.checksum = ((descriptor >> 2) & 1) === 1;
    this.blocks = 0;
    this.frameOutput = 0;
    this.headerLength = 0;
    this.blockHeaderLength = 0;
    this.state = State.BlockHeader;
  }

  block(): void {
    const b = this.blockHeader;
    const header = b[0]! | (b[1]! << 8) | (b[2]! << 16);
    this.blockHeaderLength = 0;
    const last = (header & 1) === 1;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw this.fail("CORRUPT", "a zstd block of the reserved type 3");
    if (size > BLOCK_MAX) throw this.fail("CORRUPT", `a zstd block of ${size} bytes, over the 128 KiB maximum`);
    if (++this.blocks > SMALL_BLOCKS + 2 * Math.ceil(this.frameOutput / BLOCK_MAX))
      throw this.fail(
        "LIMIT",
        `a zstd frame of ${this.blocks} blocks decodes to ${this.frameOutput} bytes: blocks this small under a window of ${this.window} bytes cost the decoder a window's copy each`,
      );
    const content = type === 1 ? 1 : size;
    this.startSkip(content + (last && this.checksum ? 4 : 0), last ? State.FrameHeader : State.BlockHeader);
  }

  startSkip(bytes: number, then: State): void {
    this.afterSkip = then;
    this.skip = bytes;
    this.state = State.Skip;
  }
}

/**
 * The bytes `source` (a zstd stream of one or more frames) decodes to, one block at a time.
 * @param maxWindow largest window a frame may name.
 * @param fail makes the error to throw for a fault; its message should name the stream.
 */
export async function* zstdDecode(
  source: AsyncIterable<Uint8Array>,
  maxWindow: number,
  fail: (fault: ZstdFault, detail: string) => Error,
): AsyncGenerator<Uint8Array> {
  const guard = new Guard(maxWindow, fail);
  let out: Uint8Array[] = [];
  const decoder = new Decompress((chunk) => {
    if (chunk.length > 0) out.push(chunk);
  });
  const push = (piece: Uint8Array, final: boolean): Uint8Array[] => {
    try {
      decoder.push(piece, final);
    } catch (error) {
      const code = (error as ZstdError).code;
      throw fail(code === UNEXPECTED_EOF ? "TRUNCATED" : "CORRUPT", `zstd: ${(error as Error).message}`);
    }
    const got = out;
    out = [];
    for (const chunk of got) guard.frameOutput += chunk.length;
    return got;
  };
  for await (const input of source) {
    let p = 0;
    while (p < input.length) {
      const { next, ends } = guard.step(input, p);
      const piece = input.subarray(p, next);
      p = next;
      if (!ends && p < input.length) continue;
      yield* push(piece, false);
    }
  }
  if (!guard.atFrameStart) throw fail("TRUNCATED", "the zstd stream ends inside a frame");
  yield* push(new Uint8Array(0), true);
}
