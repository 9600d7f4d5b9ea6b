/**
 * A perf.data input for the commands: a file opened without blocking and checked on its handle, read
 * whole when it is small and as a Blob otherwise (so a file's header and build-ID table come before
 * its records, and a table alone is all `buildid-list` reads), or standard input as chunks as they
 * arrive (`perf record -o - | ...`).
 *
 * @packageDocumentation
 */
import { closeSync, openAsBlob, readSync } from "node:fs";
import type { PerfDataSource } from "../perf/reader.js";
import { STANDARD_STREAM, UsageError } from "./commands/shared.js";
import {
  FileTooLargeError,
  NotRegularFileError,
  openRegular,
  openRegularSync,
  readRegularFileSync,
} from "./safe-open.js";

/** A FIFO given as a recording's path (`<(perf record -o - ...)` too) is refused, as perf refuses it, with the way that works. */
function withPipeHint(error: unknown): unknown {
  if (error instanceof NotRegularFileError && error.kind === "FIFO")
    error.message += `: to read a pipe, give - and send it to standard input (perf record -o - ... | buildid-cache pprof - -o OUT)`;
  return error;
}

/**
 * Recordings up to this size are read whole, with blocking reads: no Blob, web stream or thread pool
 * to start (10-20 ms of a command's start), and the reader takes the same records from the bytes.
 */
export const WHOLE_READ_BYTES = 16 * 1024 * 1024;

/** An open input: read it, then close it. */
export interface PerfInput {
  /** What to hand the reader. */
  source: PerfDataSource;
  /** The input's name in messages. */
  name: string;
  /** Releases the file. */
  close(): Promise<void>;
}

/**
 * Opens `path` (`-`: standard input, not a terminal) for reading perf.data; a file up to `wholeBytes` is read whole.
 * @throws UsageError for a terminal on standard input; NotRegularFileError and Node's errors for a path that is not a readable regular file.
 */
export async function openPerfInput(
  path: string,
  procRoot = "/proc",
  wholeBytes = WHOLE_READ_BYTES,
): Promise<PerfInput> {
  if (path === STANDARD_STREAM) {
    if (process.stdin.isTTY)
      throw new UsageError(
        "not reading perf.data from a terminal: redirect standard input, or give a file instead of -",
      );
    return { source: process.stdin as AsyncIterable<Uint8Array>, name: "standard input", close: async () => {} };
  }
  try {
    const { bytes } = readRegularFileSync(path, { maxBytes: wholeBytes });
    return { source: bytes, name: path, close: async () => {} };
  } catch (error) {
    if (!(error instanceof FileTooLargeError)) throw withPipeHint(error);
  }
  const { handle } = await openRegular(path).catch((error) => Promise.reject(withPipeHint(error)));
  try {
    // The Blob reads through the handle's descriptor, so it is the file checked above whatever the path names later.
    const blob = await openAsBlob(`${procRoot}/self/fd/${handle.fd}`);
    return { source: blob, name: path, close: () => handle.close() };
  } catch {
    return { source: handle.createReadStream({ autoClose: false }), name: path, close: () => handle.close() };
  }
}

/** Bytes of the buffer {@link openPerfChunks} reads through: within the CPU's caches, and no page of it faulted in twice. */
const CHUNK_BYTES = 256 * 1024;

/** A file's bytes as chunks, each read into the same buffer once the reader is done with the one before. */
function* readChunks(fd: number): Generator<Uint8Array> {
  const buffer = new Uint8Array(CHUNK_BYTES);
  for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) yield buffer.subarray(0, n);
}

/**
 * {@link openPerfInput} for a reader that takes every record in order (`pprof`, `buildid-list -H`): a file
 * is read in chunks through one reused buffer with blocking reads, no Blob, web stream or whole copy
 * (a Blob or a whole read of a 29 MB recording cost 80-160 ms of CPU, these reads 6-10 ms: fresh pages
 * are faulted in, the reused ones are not). Each chunk is overwritten by the next, which the perf reader
 * allows: it copies what it keeps of a chunk before it asks for the next.
 */
export async function openPerfChunks(path: string): Promise<PerfInput> {
  if (path === STANDARD_STREAM) return openPerfInput(path);
  let fd: number;
  try {
    ({ fd } = openRegularSync(path));
  } catch (error) {
    throw withPipeHint(error);
  }
  return { source: readChunks(fd), name: path, close: async () => closeSync(fd) };
}
