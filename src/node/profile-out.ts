/** pprof files written out; apart from ./pprof-file.ts, so writing one loads no pprof-format. */
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { replaceFile, runAsync } from "./cache-file.js";

const gzipAsync = promisify(gzip);

/** `bytes` gzip-compressed, as pprof tools write profiles. */
export async function gzipProfile(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await gzipAsync(bytes));
}

/**
 * Writes profile `bytes` to `path` atomically (see `replaceFileSync`), gzip-compressed when
 * `path` ends in `.gz`.
 * @throws NotRegularFileError when `path` is not a regular file, PathError for any I/O error.
 */
export async function writeProfileFile(path: string, bytes: Uint8Array): Promise<void> {
  const out = path.endsWith(".gz") ? await gzipProfile(bytes) : bytes;
  await runAsync(replaceFile(path, out));
}
