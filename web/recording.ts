// A dropped perf.data file: converted as it streams from the File (never read whole), its build-ID list
// made in the same pass, the profile gzipped for download. Runs in the page's worker (perf-worker.ts).
import { dsoName } from "../src/convert/build-ids.js";
import { type ConversionSummary, listBuildIds, PerfConverter } from "../src/convert/index.js";
import { type PerfDataSource, PerfDataStream, type RawRecord } from "../src/perf/index.js";
import type { ScanStart } from "../src/perf/reader.js";
import type { RecordSink } from "../src/perf/splitter.js";

/** A line of `perf buildid-list` (without -H) and the samples whose IP fell in that file. */
export interface ListedFile {
  /** Lowercase hex, "" when perf has none. */
  buildId: string;
  /** The name perf lists: a path, `[kernel.kallsyms]`, `[vdso]`. */
  name: string;
  /** Samples in it (0 for a file mapped but never sampled). */
  samples: number;
}

/** A converted recording, ready to show and to download. */
export interface ConvertedRecording {
  /** What the converter found: processes, files with build IDs, sample counts. */
  summary: ConversionSummary;
  /** Every file `perf buildid-list` lists, with its samples. */
  listed: ListedFile[];
  /** File mode (`perf record -o FILE`) or pipe mode (`-o -`). */
  mode: "file" | "pipe";
  /** Whether the records were zstd-compressed (`perf record -z`). */
  compressed: boolean;
  /** The pprof profile, gzip-compressed as `go tool pprof` and pprof's other readers expect a `.pb.gz`. */
  download: Blob;
  downloadName: string;
}

/** A stream whose one pass feeds both the build-ID list's reader and the converter, and tells how far it read. */
class TeeStream extends PerfDataStream {
  #reached = 0;

  constructor(
    source: PerfDataSource,
    private readonly converter: PerfConverter,
    private readonly progress: (bytesRead: number) => void,
  ) {
    super(source);
  }

  override scan(start: ScanStart): Promise<void> {
    return super.scan((session) => this.#both(start(session), this.converter.sinkFor(session)));
  }

  override async *rawBatches(): AsyncGenerator<RawRecord[]> {
    for await (const batch of super.rawBatches()) {
      this.progress(this.#reached);
      yield batch;
    }
  }

  #both(list: RecordSink | undefined, converter: RecordSink): RecordSink {
    return {
      record: (raw) => {
        list?.record(raw);
        converter.record(raw);
        this.#reached = raw.compressed ? raw.offset : raw.offset + raw.size;
      },
      sample: (bytes, bodyAt, bodyLength, misc, offset, compressed) => {
        list?.sample(bytes, bodyAt, bodyLength, misc, offset, compressed);
        converter.sample(bytes, bodyAt, bodyLength, misc, offset, compressed);
        this.#reached = offset;
      },
    };
  }
}

/**
 * Converts the perf.data in `file` to pprof and lists its build IDs as `perf buildid-list` does, in one
 * streaming pass: the headers and feature sections are read as Blob slices, the data section through
 * `file.stream()`, so memory holds one chunk at a time, not the file. `progress` hears the byte offset
 * reached after each chunk.
 * @throws PerfDataError (with `code` and `offset`) for input the reader refuses; the converter's limit errors.
 */
export async function convertRecording(
  file: File,
  progress: (bytesRead: number) => void = () => {},
): Promise<ConvertedRecording> {
  const converter = new PerfConverter();
  const stream = new TeeStream(file, converter, progress);
  const { lines } = await listBuildIds(stream);
  const session = stream.session!;
  const { profile, summary } = await converter.finish(session);
  const samples = new Map<string, number>();
  for (const f of summary.files) {
    const name = dsoName(f.path, f.path.startsWith("[kernel.kallsyms]") ? -1 : 0);
    samples.set(name, (samples.get(name) ?? 0) + f.samples);
  }
  const raw = new Blob([profile as Uint8Array<ArrayBuffer>]);
  const download = await new Response(raw.stream().pipeThrough(new CompressionStream("gzip"))).blob();
  const stem = file.name.replace(/\.data$/, "") || "perf";
  return {
    summary,
    listed: lines.map(({ buildId, name }) => ({ buildId, name, samples: samples.get(name) ?? 0 })),
    mode: session.mode,
    compressed: session.compression !== undefined,
    download,
    downloadName: `${stem}.pb.gz`,
  };
}
