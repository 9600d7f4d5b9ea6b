/** What was wrong with perf.data input; see {@link PerfDataError}. */
export type PerfDataErrorCode =
  /** The input does not start with perf's magic (`PERFILE2` in either byte order). */
  | "NOT_PERF_DATA"
  /** The file or stream header, the attribute table or a feature table is malformed. */
  | "BAD_HEADER"
  /** The input ends inside a header, a section or a record. */
  | "TRUNCATED"
  /** A record is malformed: a size below the 8-byte header, a field running past the record. */
  | "BAD_RECORD"
  /** Input perf can write but this reader does not read: an unknown `sample_type` bit, the legacy `PERFFILE` format. */
  | "UNSUPPORTED"
  /** A record names an event ID no attribute has. */
  | "UNKNOWN_ID"
  /** Compressed data that zstd cannot decode. */
  | "BAD_COMPRESSED"
  /** A count or size over a {@link PerfReadLimits} value; the reader stops rather than use unbounded memory. */
  | "LIMIT";

/** The one error the perf.data reader throws for bad input: a {@link PerfDataErrorCode} and the byte offset it was found at. */
export class PerfDataError extends Error {
  /** Always "PerfDataError", so the error can be told apart after serialisation. */
  override readonly name = "PerfDataError";
  /** What kind of problem it is. */
  readonly code: PerfDataErrorCode;
  /** Byte offset in the input (for records inside compressed data: the offset of the COMPRESSED record). */
  readonly offset: number;

  /** @param code what kind of problem; @param offset where; @param message what was wrong, with the values involved. */
  constructor(code: PerfDataErrorCode, offset: number, message: string) {
    super(`${message} (at byte ${offset}, 0x${offset.toString(16)})`);
    this.code = code;
    this.offset = offset;
  }
}
