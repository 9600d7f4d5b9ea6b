// Decompresses the zstd stream of PERF_RECORD_COMPRESSED records. perf compresses a whole session as one
// zstd frame cut across records (perf's zstd_compress_stream_to_records), so the decoder streams, behind
// the shared guard on windows, and each record's output is bounded on its own.

import { ZstdDecoder, type ZstdEngine } from "../zstd.js";
import { PerfDataError } from "./errors.js";

/** A streaming zstd decoder with bounds on its window and on what one input may expand to. */
export class ZstdStream {
  private readonly decoder: ZstdDecoder;
  private offset = 0;

  /**
   * @param maxWindow largest window a frame may name (fzstd allocates it)
   * @param maxOutput most bytes one {@link ZstdStream.push} may produce
   * @param engine decodes instead of fzstd
   */
  constructor(
    maxWindow: number,
    private readonly maxOutput: number,
    engine?: ZstdEngine,
  ) {
    this.decoder = new ZstdDecoder(
      { maxWindow },
      (fault, detail) => new PerfDataError(fault === "LIMIT" ? "LIMIT" : "BAD_COMPRESSED", this.offset, detail),
      engine,
    );
  }

  /** Decompresses the next piece of the stream (one record's payload at file `offset`); returns what it decodes to. */
  push(input: Uint8Array, offset: number): Uint8Array {
    this.offset = offset;
    const output: Uint8Array[] = [];
    let bytes = 0;
    for (const chunk of this.decoder.decode(input)) {
      bytes += chunk.length;
      if (bytes > this.maxOutput)
        throw new PerfDataError(
          "LIMIT",
          offset,
          `a compressed record expands past the limit of ${this.maxOutput} bytes`,
        );
      output.push(chunk);
    }
    if (output.length === 1) return output[0]!;
    const out = new Uint8Array(bytes);
    let at = 0;
    for (const chunk of output) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}
