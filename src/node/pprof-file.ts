/** pprof files on disk: gzip in and out, and build IDs found through a {@link BuildIdResolver}. */
import { readFile, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { type Annotation, annotateProfile, type BuildIdAnswer, type FindBuildId } from "../pprof.js";
import type { BuildIdResolver } from "./resolver.js";

const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

/** The uncompressed bytes of the pprof file at `path` (gzip-compressed or not, told by its magic). */
export async function readProfileFile(path: string): Promise<Uint8Array> {
  const bytes = await readFile(path);
  const gzipped = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
  return gzipped ? new Uint8Array(await gunzipAsync(bytes)) : new Uint8Array(bytes);
}

/** Writes profile `bytes` to `path`, gzip-compressed when `path` ends in `.gz`. */
export async function writeProfileFile(path: string, bytes: Uint8Array): Promise<void> {
  await writeFile(path, path.endsWith(".gz") ? await gzipAsync(bytes) : bytes);
}

/** Options for {@link buildIdFinder} and {@link annotateProfileFile}. */
export interface ProfileLookupOptions {
  /**
   * The live process the profile was taken from: each mapping is then found at its start address
   * in that process and read through `/proc/PID/map_files/` by device and inode (deleted files and
   * other mount namespaces included), falling back to the path when that fails.
   */
  pid?: number;
}

/** A {@link FindBuildId} over `resolver`: by the live process's mapping when `pid` is given, else by path. */
export function buildIdFinder(resolver: BuildIdResolver, options: ProfileLookupOptions = {}): FindBuildId {
  return async (mapping): Promise<BuildIdAnswer> => {
    let viaProcess = "";
    if (options.pid !== undefined) {
      const r = await resolver.resolve(options.pid, mapping.memoryStart);
      if (r.ok && (mapping.filename === "" || r.path === mapping.filename)) return r.buildId;
      viaProcess = r.ok ? `process ${options.pid} maps ${r.path} there; ` : `${r.detail}; `;
    }
    if (mapping.filename === "") return { reason: `${viaProcess}no filename` };
    if (!mapping.filename.startsWith("/")) return { reason: `${viaProcess}${mapping.filename} is not a file path` };
    const r = await resolver.resolveFile(mapping.filename);
    return r.ok ? r.buildId : { reason: `${viaProcess}${r.reason}: ${r.detail}` };
  };
}

/**
 * Reads the pprof file `input` (gzip or not), fills its empty mapping build IDs through
 * `resolver`, and writes it to `output` (gzip when it ends in `.gz`).
 */
export async function annotateProfileFile(
  input: string,
  output: string,
  resolver: BuildIdResolver,
  options: ProfileLookupOptions = {},
): Promise<Omit<Annotation, "bytes">> {
  const { bytes, ...report } = await annotateProfile(await readProfileFile(input), buildIdFinder(resolver, options));
  await writeProfileFile(output, bytes);
  return report;
}
