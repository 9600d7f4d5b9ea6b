/** pprof files on disk: gzip in and out, and build IDs found through a {@link BuildIdResolver}. */
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import {
  type Annotation,
  annotateProfile,
  type BuildIdAnswer,
  type FindBuildId,
  isGzip,
  ProfileFormatError,
} from "../pprof.js";
import { writeProfileFile } from "./profile-out.js";
import type { BuildIdResolver } from "./resolver/resolver.js";
import { DEFAULT_READ_LIMIT, readRegularFile } from "./safe-open.js";

export { gzipProfile, writeProfileFile } from "./profile-out.js";

const gunzipAsync = promisify(gunzip);

/** Options for {@link readProfileFile}. */
export interface ReadProfileOptions {
  /** Most bytes to read from the file and to decompress it to; default {@link DEFAULT_PROFILE_LIMIT}. */
  maxBytes?: number;
}

/** Default {@link ReadProfileOptions.maxBytes}: 256 MiB, well below a machine's memory. */
export const DEFAULT_PROFILE_LIMIT = DEFAULT_READ_LIMIT;

/**
 * The uncompressed bytes of the pprof file at `path` (gzip-compressed or not, told by its magic).
 * Decompression stops as soon as it passes `maxBytes`.
 * @throws NotRegularFileError for anything but a regular file, FileTooLargeError for a file over
 *   `maxBytes`, ProfileFormatError naming the path for corrupt gzip or output over `maxBytes`.
 */
export async function readProfileFile(path: string, options: ReadProfileOptions = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_PROFILE_LIMIT;
  const { bytes } = await readRegularFile(path, { maxBytes });
  return decodeProfile(bytes, path, options);
}

/**
 * The uncompressed bytes of a pprof profile given as `bytes` (gzip-compressed or not, told by its
 * magic) that came from `name`; decompression stops as soon as it passes `maxBytes`.
 * @throws ProfileFormatError naming `name` for corrupt gzip or output over `maxBytes`.
 */
export async function decodeProfile(
  bytes: Uint8Array,
  name: string,
  options: ReadProfileOptions = {},
): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_PROFILE_LIMIT;
  if (!isGzip(bytes)) return bytes;
  try {
    return new Uint8Array(await gunzipAsync(bytes, { maxOutputLength: maxBytes }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ERR_BUFFER_TOO_LARGE"
        ? `decompresses to more than ${maxBytes} bytes (maxBytes, or --max-profile-bytes, raises the limit)`
        : `corrupt gzip: ${(error as Error).message}`;
    throw new ProfileFormatError(`${name}: ${why}`);
  }
}

/** Options for {@link buildIdFinder} and {@link annotateProfileFile}. */
export interface ProfileLookupOptions extends ReadProfileOptions {
  /**
   * The live process the profile was taken from: each mapping is then found at its start address
   * in that process and read through `/proc/PID/map_files/` by device and inode (deleted files and
   * other mount namespaces included), falling back to the path when that fails.
   */
  pid?: number;
}

/**
 * A {@link FindBuildId} over `resolver`: by the live process's mapping when `pid` is given, else
 * (or when the process does not map that file there) by the file at the mapping's path now. The
 * ids of the mappings answered by path are pushed onto `byPath`: nothing says that file is the one
 * the profile was taken from.
 */
export function buildIdFinder(
  resolver: BuildIdResolver,
  options: ProfileLookupOptions = {},
  byPath: bigint[] = [],
): FindBuildId {
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
    if (!r.ok) return { reason: `${viaProcess}${r.reason}: ${r.detail}` };
    byPath.push(mapping.id);
    return r.buildId;
  };
}

/** What annotating a profile did: {@link Annotation}, and which build IDs came from a file by its path. */
export interface ProfileAnnotation extends Annotation {
  /**
   * The ids of the filled mappings whose build ID was read from the file at the mapping's path as
   * it is now, not through the process the profile came from (no `pid`, or the process did not map
   * that file there): if the file was replaced since the profile was taken, the ID is the new file's.
   */
  filledByPath: bigint[];
}

/**
 * Fills the empty mapping build IDs of the uncompressed pprof `profile`, which came from `name`,
 * through `resolver`; a format error names `name`.
 */
export async function annotateProfileBytes(
  profile: Uint8Array,
  name: string,
  resolver: BuildIdResolver,
  options: ProfileLookupOptions = {},
): Promise<ProfileAnnotation> {
  const filledByPath: bigint[] = [];
  const annotation = await annotateProfile(profile, buildIdFinder(resolver, options, filledByPath)).catch((error) => {
    throw error instanceof ProfileFormatError ? new ProfileFormatError(`${name}: ${error.message}`) : error;
  });
  return { ...annotation, filledByPath };
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
): Promise<Omit<ProfileAnnotation, "bytes">> {
  const profile = await readProfileFile(input, options);
  const { bytes, ...report } = await annotateProfileBytes(profile, input, resolver, options);
  await writeProfileFile(output, bytes);
  return report;
}
