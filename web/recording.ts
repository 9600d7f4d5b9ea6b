// A dropped perf.data file: converted as it streams from the File (never read whole), the profile gzipped for download.
// Section 6 loads this module (with the reader, the converter and zstd) only when a file is chosen.
import { type ConversionSummary, PerfConverter } from "../src/convert/index.js";
import { PerfDataStream } from "../src/perf/index.js";

/** A converted recording, ready to show and to download. */
export interface ConvertedRecording {
  /** What the converter found: processes, files with build IDs, sample counts. */
  summary: ConversionSummary;
  /** File mode (`perf record -o FILE`) or pipe mode (`-o -`). */
  mode: "file" | "pipe";
  /** Whether the records were zstd-compressed (`perf record -z`). */
  compressed: boolean;
  /** The pprof profile, gzip-compressed as `go tool pprof` and pprof's other readers expect a `.pb.gz`. */
  download: Blob;
  downloadName: string;
}

/**
 * Converts the perf.data in `file` to pprof, streaming: the headers and feature sections are read as
 * Blob slices, the data section through `file.stream()`, so memory holds one chunk at a time, not the file.
 * `progress` hears the byte offset reached after each chunk.
 * @throws PerfDataError (with `code` and `offset`) for input the reader refuses; the converter's limit errors.
 */
export async function convertRecording(
  file: File,
  progress: (bytesRead: number) => void = () => {},
): Promise<ConvertedRecording> {
  const stream = new PerfDataStream(file);
  const converter = new PerfConverter();
  // convertPerfData's loop, with the input offset reached after each chunk for the page's progress.
  for await (const batch of stream.rawBatches()) {
    for (const raw of batch) converter.push(raw, stream.session!);
    const last = batch.at(-1);
    if (last) progress(last.offset + last.size);
  }
  const session = stream.session!;
  const { profile, summary } = await converter.finish(session);
  const raw = new Blob([profile as Uint8Array<ArrayBuffer>]);
  const download = await new Response(raw.stream().pipeThrough(new CompressionStream("gzip"))).blob();
  const stem = file.name.replace(/\.data$/, "") || "perf";
  return {
    summary,
    mode: session.mode,
    compressed: session.compression !== undefined,
    download,
    downloadName: `${stem}.pb.gz`,
  };
}
