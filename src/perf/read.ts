// The synchronous reader of whole inputs for the public entry: it decodes `-z` records as it iterates, so it
// brings the zstd decoder, which the streaming reader loads only when a recording has COMPRESSED records.

import { fzstdEngine } from "../zstd-fzstd.js";
import { openPerfData, type PerfData, type PerfReadOptions } from "./reader.js";
import { provideZstd } from "./splitter.js";
import { ZstdStream } from "./zstd.js";

/**
 * Opens perf.data held whole in memory: file mode (`perf record -o FILE`) or pipe mode (`-o -` saved to a
 * file), either byte order. Reads the headers now (a {@link PerfDataError} if they are bad); the records are
 * read as {@link PerfData.rawRecords} or {@link PerfData.records} iterate.
 */
export function readPerfData(bytes: Uint8Array, options?: PerfReadOptions): PerfData {
  provideZstd(ZstdStream, fzstdEngine);
  return openPerfData(bytes, options);
}
