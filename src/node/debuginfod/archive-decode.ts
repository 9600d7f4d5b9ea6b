// The byte streams of a package archive: a bounded range of the file, one decompression layer, and the
// count that ends a bomb. Each stage is an async iterable of chunks, pulled by the stage after it.
import { read } from "node:fs";
import { promisify } from "node:util";
import xz from "xz-decompress";
import { ZstdDecoder, type ZstdFail } from "../../zstd.js";
import { fzstdEngine } from "../../zstd-fzstd.js";
import { ArchiveError, type ArchiveLimits } from "./archive-error.js";

/** The compressions a payload may have. */
export type Compression = "none" | "gzip" | "xz" | "zstd";

/** Bytes read from the archive at once: each read lets other work run, so a decoder holds the thread a few ms at most. */
const CHUNK = 64 * 1024;

/** xz-embedded's status codes, as xz-decompress reports them ("failed with error code N"). */
const XZ_MEMLIMIT_ERROR = 4;
const XZ_OPTIONS_ERROR = 6;
const XZ_BUF_ERROR = 8;

const readAt = promisify(read);

/**
 * `length` bytes of `fd` from `start`, in chunks; a file that ends first is {@link ArchiveError}
 * `TRUNCATED`. The next chunk's read is under way while the consumer decodes this one (one chunk
 * ahead, so at most two are held); `return()` waits for it, so call it before closing `fd`.
 */
export async function* readRange(
  fd: number,
  archive: string,
  start: number,
  length: number,
): AsyncGenerator<Uint8Array> {
  const end = start + length;
  const readChunk = async (at: number): Promise<Uint8Array> => {
    const chunk = new Uint8Array(Math.min(CHUNK, end - at));
    const { bytesRead } = await readAt(fd, chunk, 0, chunk.length, at);
    if (bytesRead === 0)
      throw new ArchiveError("TRUNCATED", archive, `the file ends at ${at} bytes, inside data that runs to ${end}`);
    return bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead);
  };
  // Marked handled at once: a read ahead may fail while its consumer is still decoding; `await` still throws it.
  const ahead = (at: number): Promise<Uint8Array> | undefined => {
    if (at >= end) return undefined;
    const read = readChunk(at);
    read.catch(() => {});
    return read;
  };
  let at = start;
  let pending = ahead(at);
  try {
    while (pending) {
      const chunk = await pending;
      at += chunk.length;
      pending = ahead(at);
      yield chunk;
    }
  } finally {
    // Ended early: the read ahead settles before the caller may close (and the system reuse) `fd`.
    await pending?.catch(() => {});
  }
}

/** Exactly `length` bytes at `at` of `fd`, or {@link ArchiveError} `TRUNCATED` naming `what`. */
export async function readExactly(
  fd: number,
  archive: string,
  at: number,
  length: number,
  what: string,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await readAt(fd, bytes, got, length - got, at + got);
    if (bytesRead === 0)
      throw new ArchiveError(
        "TRUNCATED",
        archive,
        `${what} at ${at} (${length} bytes) runs past the end of the file at ${at + got}`,
      );
    got += bytesRead;
  }
  return bytes;
}

/** `source` as a web stream: pulled on demand, and its iterator closed when the stream is cancelled. */
export function webStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await it.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

// Marks when `source` has ended, so a decoder's failure after it can be told apart as truncation.
function tracked(source: AsyncIterable<Uint8Array>): { stream: AsyncIterable<Uint8Array>; ended: () => boolean } {
  let ended = false;
  return {
    stream: (async function* () {
      yield* source;
      ended = true;
    })(),
    ended: () => ended,
  };
}

async function* rethrown(
  decoded: AsyncIterable<Uint8Array>,
  classify: (error: unknown) => ArchiveError,
): AsyncGenerator<Uint8Array> {
  try {
    yield* decoded;
  } catch (error) {
    throw error instanceof ArchiveError ? error : classify(error);
  }
}

async function* zstdDecode(
  source: AsyncIterable<Uint8Array>,
  maxWindow: number,
  fail: ZstdFail,
): AsyncGenerator<Uint8Array> {
  const decoder = new ZstdDecoder({ maxWindow, boundBlocks: true }, fail, fzstdEngine);
  for await (const input of source) yield* decoder.decode(input);
  yield* decoder.end();
}

/**
 * What `source` decompresses to. The decoders: xz-decompress (xz-embedded in WebAssembly, no native
 * code; it bounds dictionaries at 64 MiB and decodes one stream at a time per process), fzstd behind
 * {@link ZstdDecoder}'s guard, and Node's zlib for gzip.
 */
export function decompress(
  source: AsyncIterable<Uint8Array>,
  compression: Compression,
  archive: string,
  limits: ArchiveLimits,
): AsyncIterable<Uint8Array> {
  if (compression === "none") return source;
  if (compression === "zstd")
    return zstdDecode(source, limits.maxZstdWindow, (fault, detail) => new ArchiveError(fault, archive, detail));
  const { stream, ended } = tracked(source);
  const input = webStream(stream);
  if (compression === "gzip") {
    return rethrown(
      input.pipeThrough(new DecompressionStream("gzip") as ReadableWritablePair<Uint8Array, Uint8Array>),
      (error) => {
        const message = (error as Error).message;
        const cut = ended() || /unexpected end of file/i.test(message);
        return new ArchiveError(cut ? "TRUNCATED" : "CORRUPT", archive, `gzip: ${message}`);
      },
    );
  }
  return rethrown(new xz.XzReadableStream(input), (error) => {
    const code = Number(/error code (\d+)/.exec((error as Error).message)?.[1]);
    if (code === XZ_MEMLIMIT_ERROR)
      return new ArchiveError("LIMIT", archive, "xz: the stream's dictionary is larger than the decoder's 64 MiB");
    if (code === XZ_OPTIONS_ERROR)
      return new ArchiveError(
        "UNSUPPORTED",
        archive,
        "xz: the stream uses an option xz-embedded does not decode (the SHA-256 check rpm writes, or a filter other than LZMA2 and BCJ)",
      );
    if (code === XZ_BUF_ERROR || ended())
      return new ArchiveError("TRUNCATED", archive, "xz: the compressed stream ends before its end marker");
    return new ArchiveError("CORRUPT", archive, `xz: ${(error as Error).message}`);
  });
}

/** `source`, ended with {@link ArchiveError} `LIMIT` once it passes `limit` bytes. */
export async function* bounded(
  source: AsyncIterable<Uint8Array>,
  limit: number,
  archive: string,
  what: string,
): AsyncGenerator<Uint8Array> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > limit) throw new ArchiveError("LIMIT", archive, `${what} expands past ${limit} bytes`);
    for (let at = 0; at < chunk.length; at += CHUNK) yield chunk.subarray(at, at + CHUNK);
  }
}
