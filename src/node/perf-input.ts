/**
 * A perf.data input for the commands: a file opened without blocking and checked on its handle, read
 * whole when it is small and as a Blob otherwise (so a file's header and build-ID table come before
 * its records, and a table alone is all `buildid-list` reads), or standard input as chunks as they
 * arrive (`perf record -o - | ...`).
 *
 * @packageDocumentation
 */
import { openAsBlob } from "node:fs";
import type { PerfDataSource } from "../perf/reader.js";
import { STANDARD_STREAM, UsageError } from "./commands/shared.js";
import { FileTooLargeError, openRegular, readRegularFileSync } from "./safe-open.js";

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
    if (!(error instanceof FileTooLargeError)) throw error;
  }
  const { handle } = await openRegular(path);
  try {
    // The Blob reads through the handle's descriptor, so it is the file checked above whatever the path names later.
    const blob = await openAsBlob(`${procRoot}/self/fd/${handle.fd}`);
    return { source: blob, name: path, close: () => handle.close() };
  } catch {
    return { source: handle.createReadStream({ autoClose: false }), name: path, close: () => handle.close() };
  }
}
