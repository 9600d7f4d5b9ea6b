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
   * @param engine decodes
   */
  constructor(
    maxWindow: number,
    private readonly maxOutput: number,
    engine: ZstdEngine,
  ) {
    this.decoder = new ZstdDecoder(
      { maxWindow },
      (fault, detail) => new PerfDataError(fault === "LIMIT" ? "LIMIT" : "BAD_COMPRESSED", this.offset, detail),
      engine,
    );
  }

  /** Decompresses one record's payload at file `offset`: an array of its own, or when `lend` a view the next push overwrites. */
  push(input: Uint8Array, offset: number, lend = false): Uint8Array {
    this.offset = offset;
    const out = this.decoder.decodeAll(input, this.maxOutput, lend);
    if (out === undefined)
      throw new PerfDataError("LIMIT", offset, `a compressed record expands past the limit of ${this.maxOutput} bytes`);
    return out;
  }
}
