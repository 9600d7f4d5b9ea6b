/**
 * The debuginfod client: a build ID's executable, debuginfo, one section or one source file, from
 * the local index, then the client cache elfutils' `debuginfod-find` shares, then the servers in
 * `DEBUGINFOD_URLS`, all at once. It reads elfutils' settings (`DEBUGINFOD_URLS`, `_TIMEOUT`,
 * `_MAXTIME`, `_MAXSIZE`, `_RETRY_LIMIT`, `_HEADERS_FILE`, `_CACHE_PATH`), keeps its cache as
 * elfutils does (misses, cleaning) and asks as it does (URLs escaped as libcurl escapes them).
 *
 * @packageDocumentation
 */
import { closeSync, readSync } from "node:fs";
import { integer, oneOf } from "../../check.js";
import { ElfError } from "../../elf.js";
import { readBuildIdFromFile, readBuildIdFromFileSync } from "../elf-file.js";
import { isSectionName, isUrlBuildId } from "./build-id.js";
import type { BuildIdIndex } from "./build-id-index.js";
import {
  beginEntry,
  CACHE_MISS_FILE,
  CLIENT_ARTIFACTS,
  type ClientArtifact,
  cacheEntryName,
  cacheEntryPath,
  cleanCache,
  debuginfodCachePath,
  MAX_ENTRY_NAME_BYTES,
  readEntry,
  recordMiss,
  STALE_TEMP_S,
} from "./client-cache.js";
import { readHeadersFile } from "./client-http.js";
import { askServers } from "./client-query.js";

export {
  CacheWriteError,
  CLIENT_ARTIFACTS,
  type ClientArtifact,
  cacheEntryPath,
  debuginfodCachePath,
} from "./client-cache.js";

/** Options for {@link findArtifact}. */
export interface FindOptions {
  /** The section name; required for `"section"`, refused otherwise. */
  section?: string;
  /** The source file's absolute path, as the debuginfo's line table names it; required for `"source"`, refused otherwise. */
  file?: string;
  /** A local index, asked first (it holds no sources). */
  index?: BuildIdIndex;
  /** Server base URLs; default `DEBUGINFOD_URLS` split on white space. Duplicates are asked once. */
  urls?: readonly string[];
  /** The client cache; default as elfutils picks it ({@link debuginfodCachePath}). */
  cachePath?: string;
  /** Most time without progress from a server (to its headers, and between body chunks), in ms. Default `DEBUGINFOD_TIMEOUT` seconds, else 90 s. */
  timeoutMs?: number;
  /**
   * Most time for all servers together, from the first request to the last byte, in ms. Default
   * `DEBUGINFOD_MAXTIME` seconds, else {@link DEFAULT_MAX_TIME_S}.
   */
  maxTimeMs?: number;
  /** Largest download accepted, in bytes (decoded). Default `DEBUGINFOD_MAXSIZE`, else 4 GiB. */
  maxBytes?: number;
  /** Times the servers that failed for a reason that may pass are asked again, 0 to 100. Default `DEBUGINFOD_RETRY_LIMIT`, else 2. */
  retries?: number;
  /** Request headers, after those of `DEBUGINFOD_HEADERS_FILE` (which these replace, name for name). */
  headers?: Readonly<Record<string, string>>;
  /** Download progress: bytes received (decoded), the total when a header gave it, and the URL. */
  onProgress?(received: number, total: number | undefined, url: string): void;
  /** Receives a line for each step, as `DEBUGINFOD_VERBOSE` makes elfutils' client write them. */
  log?(line: string): void;
  /** Environment to read `DEBUGINFOD_*`, `XDG_CACHE_HOME` and `HOME` from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Where {@link findArtifact} found an artifact. */
export interface FoundArtifact {
  /** Path of the file holding it: an indexed file, or the cache entry. */
  path: string;
  /** `"index"`, `"cache"`, or the server base URL it came from. */
  source: string;
  /** Its size in bytes. */
  size: number;
  /** From a server: the URL that answered, after redirects (`debuginfod_get_url`). */
  url?: string;
  /** From a server: its `X-DEBUGINFOD-*` headers, names in lowercase (`debuginfod_get_headers`). */
  headers?: Record<string, string>;
}

/** No source had the artifact; `tried` says what each one answered. */
export class ArtifactNotFoundError extends Error {
  /** Always "ArtifactNotFoundError", so the error can be told apart after serialisation. */
  override name = "ArtifactNotFoundError";
  /** Errno-style code, as `debuginfod-find` exits with ENOENT. */
  readonly code = "ENOENT";
  /**
   * @param what The artifact asked for, e.g. "debuginfo of 0123…".
   * @param tried One line per source tried.
   * @param asked Servers asked; 0 when the answer came from the index or the cache (a recorded miss), or there is none.
   * @param failed Of those, the ones that failed for another reason than not having it (down, no progress, a
   *   bad answer, a bound), so that it may exist; 0 when every one said 404.
   */
  constructor(
    what: string,
    readonly tried: readonly string[],
    readonly asked = 0,
    readonly failed = 0,
  ) {
    super(
      `${what} not found${tried.length ? `: ${tried.join("; ")}` : " (no index, no cache entry, no DEBUGINFOD_URLS)"}`,
    );
  }
}

const DEFAULT_TIMEOUT_S = 90;
/**
 * Seconds all servers together get when `DEBUGINFOD_MAXTIME` is unset (or 0, which elfutils takes
 * as no bound): 30 minutes, the time the largest download the default size bound allows (4 GiB)
 * takes on a slow but working 20 Mbit/s link, so the bound ends only a server that is not really
 * sending.
 */
export const DEFAULT_MAX_TIME_S = 30 * 60;
const DEFAULT_MAX_BYTES = 4 * 1024 ** 3;
/** elfutils' default `DEBUGINFOD_RETRY_LIMIT`. */
const DEFAULT_RETRIES = 2;
/** Most retries taken; a larger `DEBUGINFOD_RETRY_LIMIT` is cut to it, as a dead server is asked again at once. */
const MAX_RETRIES = 100;
/** Longest delay a timer takes (2^31 - 1 ms, about 24.8 days); longer settings from the environment are cut to it. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Bytes copied at a time from an indexed file into a cache entry. */
const COPY_CHUNK = 1024 * 1024;

// A whole number of the environment variable `name`, or undefined when unset or not one; 0 too unless `zero` (elfutils' atol gives 0, "no bound", for both).
function envNumber(env: NodeJS.ProcessEnv, name: string, zero = false): number | undefined {
  const v = env[name]?.trim();
  return v && /^[0-9]+$/.test(v) && (zero || Number(v) > 0) ? Number(v) : undefined;
}

function envMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const s = envNumber(env, name);
  return s === undefined ? undefined : Math.min(s * 1000, MAX_TIMER_MS);
}

/** libcurl's `curl_easy_escape` as elfutils applies it to a source path: every byte of its UTF-8 but `A-Z a-z 0-9 - . _ ~` as `%XX`, then `/` kept. */
function curlEscape(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~/]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

// Why the open file is not the executable or debuginfo of `id` (its own build ID differs), or undefined if it is.
function wrongId(fd: number, size: number, id: string): string | undefined {
  try {
    const found = readBuildIdFromFileSync(fd, { size }).buildId;
    return found === id ? undefined : `whose build ID is ${found}, not ${id}`;
  } catch (error) {
    if (error instanceof ElfError) return `whose build ID is not ${id} (${error.message})`;
    throw error;
  }
}

// Copies `length` bytes at `start` of `fd` (the indexed file `from`) into a new cache entry, a chunk at a time.
async function copyToEntry(
  cachePath: string,
  id: string,
  name: string,
  source: { from: string; fd: number; start: number; length: number },
  staleS: number,
): Promise<void> {
  const entry = await beginEntry(cachePath, id, name, staleS);
  try {
    const chunk = new Uint8Array(Math.min(COPY_CHUNK, source.length));
    for (let at = 0; at < source.length; ) {
      const n = readSync(source.fd, chunk, 0, Math.min(chunk.length, source.length - at), source.start + at);
      if (n === 0)
        throw new Error(`${source.from} ended ${source.length - at} bytes early: it shrank since it was opened`);
      await entry.append(chunk.subarray(0, n));
      at += n;
    }
    await entry.commit();
  } finally {
    await entry.discard();
  }
}

/**
 * The build ID `argument` names, as `debuginfod-find` takes its second word: the argument itself
 * when it is hex, else the build ID of the ELF file at that path (opened without blocking, a FIFO
 * or a folder refused).
 * @throws ElfError naming the path (not ELF, no build ID), NotRegularFileError, or Node's `ENOENT`/`EACCES`.
 */
export async function buildIdOf(argument: string): Promise<string> {
  if (/^[0-9a-fA-F]+$/.test(argument)) return argument;
  return (await readBuildIdFromFile(argument)).buildId;
}

// The name after the artifact (section or source path), checked: a RangeError names a bad or misplaced one.
function artifactName(artifact: ClientArtifact, options: FindOptions): string {
  const { section, file } = options;
  if (artifact !== "section" && section !== undefined)
    throw new RangeError(`section is only for the "section" artifact, got ${JSON.stringify(section)}`);
  if (artifact !== "source" && file !== undefined)
    throw new RangeError(`file is only for the "source" artifact, got ${JSON.stringify(file)}`);
  if (artifact === "section") {
    if (typeof section !== "string" || !isSectionName(section))
      throw new RangeError(`section must be a section name, got ${JSON.stringify(section)}`);
    return section;
  }
  if (artifact === "source") {
    if (typeof file !== "string" || !file.startsWith("/") || file.includes("\0"))
      throw new RangeError(`file must be an absolute path (starting with /) for "source", got ${JSON.stringify(file)}`);
    const bytes = Buffer.byteLength(cacheEntryName("source", file));
    if (bytes > MAX_ENTRY_NAME_BYTES)
      throw new RangeError(
        `file escapes to a cache file name of ${bytes} bytes, more than ${MAX_ENTRY_NAME_BYTES}: ${JSON.stringify(file)}`,
      );
    return file;
  }
  return "";
}

/**
 * The checks {@link findArtifact} makes of its arguments, alone: the build ID in lowercase and the
 * section name or source path (`""` for the others).
 * @throws TypeError or RangeError naming a bad or misplaced argument.
 */
export function checkFindArguments(
  artifact: ClientArtifact,
  buildId: string,
  options: Pick<FindOptions, "section" | "file">,
): {
  /** The build ID in lowercase hex. */
  id: string;
  /** What is asked for, as messages name it: "debuginfo", "section .text", "source /a/b.c". */
  name: string;
} {
  oneOf("artifact", artifact, CLIENT_ARTIFACTS);
  if (typeof buildId !== "string") throw new TypeError(`buildId must be a hex string, got ${typeof buildId}`);
  const id = buildId.toLowerCase();
  if (!isUrlBuildId(id)) throw new RangeError(`buildId must be hex of even length, got ${JSON.stringify(buildId)}`);
  return { id, name: artifactName(artifact, options) };
}

/**
 * Finds the `artifact` of `buildId`: the local index first (its file, or for a section the bytes
 * copied into the cache), then the client cache (cleaned first, as elfutils cleans it, when its
 * `cache_clean_interval_s` has passed), then every server at once: the first to answer 200 is read
 * from and the others cancelled; they are asked again if its answer proves bad, and servers that
 * failed for a reason that may pass up to `retries` times. A cache
 * entry that is a symbolic link, or whose folder is one, is never used nor written through.
 * Before any server is asked, a temporary file is made beside {@link cacheEntryPath} (after the
 * ID folder's stale temporary files are removed: ours, still writable, untouched for an hour or
 * the no-progress timeout if longer); what a server sends streams into it, bounded by `timeoutMs`
 * without progress, `maxTimeMs` in all and `maxBytes`, and is kept only if its length matches
 * the headers (`Content-Length` on the wire, `X-DEBUGINFOD-SIZE` decoded) and, for an executable
 * or debuginfo, its own build ID is `buildId`; it is then synced, made read-only (mode 0400, with
 * the server's `Last-Modified` as its mtime, as elfutils' client leaves it) and renamed into
 * place. Nothing else stays behind, on an error or at `process.exit` (the CLI's way out on SIGINT
 * and SIGTERM). When every server answers 404 the miss is recorded as an empty entry, as elfutils
 * records it, and no server is asked again until it is older than the cache's `cache_miss_s`
 * (default 600 s).
 * @throws TypeError or RangeError naming a bad argument; CacheWriteError (code `EROFS`, `EACCES`,
 *   `ENOSPC`, `ELOOP` for a linked ID folder, …) naming the path when the cache cannot be
 *   written; {@link ArtifactNotFoundError} when no source has it.
 */
export async function findArtifact(
  artifact: ClientArtifact,
  buildId: string,
  options: FindOptions = {},
): Promise<FoundArtifact> {
  const { id, name } = checkFindArguments(artifact, buildId, options);
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const timeoutMs = integer(
    "timeoutMs",
    options.timeoutMs ?? envMs(env, "DEBUGINFOD_TIMEOUT") ?? DEFAULT_TIMEOUT_S * 1000,
    1,
    MAX_TIMER_MS,
  );
  const maxTimeEnv = envMs(env, "DEBUGINFOD_MAXTIME");
  const maxTimeMs = integer("maxTimeMs", options.maxTimeMs ?? maxTimeEnv ?? DEFAULT_MAX_TIME_S * 1000, 1, MAX_TIMER_MS);
  const maxTimeName =
    options.maxTimeMs !== undefined
      ? `maxTimeMs (${maxTimeMs} ms)`
      : maxTimeEnv !== undefined
        ? `DEBUGINFOD_MAXTIME (${maxTimeMs / 1000} s)`
        : `the default bound of ${DEFAULT_MAX_TIME_S} s (DEBUGINFOD_MAXTIME unset)`;
  const maxBytes = integer(
    "maxBytes",
    options.maxBytes ?? envNumber(env, "DEBUGINFOD_MAXSIZE") ?? DEFAULT_MAX_BYTES,
    1,
  );
  const envRetries = envNumber(env, "DEBUGINFOD_RETRY_LIMIT", true);
  const retries = integer(
    "retries",
    options.retries ?? (envRetries === undefined ? DEFAULT_RETRIES : Math.min(envRetries, MAX_RETRIES)),
    0,
    MAX_RETRIES,
  );
  const cachePath = options.cachePath ?? debuginfodCachePath(env);
  const entryName = cacheEntryName(artifact, name);
  const entryPath = cacheEntryPath(cachePath, id, artifact, name);
  const staleS = Math.max(STALE_TEMP_S, timeoutMs / 1000);
  const what = name ? `${artifact} ${name} of ${id}` : `${artifact} of ${id}`;
  const tried: string[] = [];
  log(`debuginfod_find_${artifact} ${id}${name ? ` ${name}` : ""}`);

  if (options.index && artifact !== "source") {
    // Loaded only here: the index's readers (sections, archives) are no part of a query to the servers.
    const { openArtifact } = await import("./artifact.js");
    const found = openArtifact(options.index, id, artifact, name);
    if ("fd" in found) {
      try {
        if (artifact !== "section") return { path: found.file.path, source: "index", size: found.length };
        await copyToEntry(cachePath, id, entryName, { from: found.file.path, ...found }, staleS);
        return { path: entryPath, source: "index", size: found.length };
      } finally {
        closeSync(found.fd);
      }
    }
    tried.push(found.changed ? `index: ${found.changed} file(s) changed since the scan` : "index: none");
  }

  log(`checking cache dir ${cachePath}`);
  const cleaned = cleanCache(cachePath, staleS);
  if (cleaned) {
    log(`cleaned the cache: ${cleaned.entries} entries, ${cleaned.temps} temporary files, ${cleaned.folders} folders`);
  }
  const check = (fd: number, size: number): string | undefined =>
    artifact === "executable" || artifact === "debuginfo" ? wrongId(fd, size, id) : undefined;
  const held = readEntry(cachePath, id, entryName, check);
  if (held && "size" in held) {
    log(`found ${entryPath} in the cache`);
    return { path: entryPath, source: "cache", size: held.size };
  }
  if (held && "missAgeS" in held) {
    tried.push(`cache: a miss recorded ${held.missAgeS} s ago, within ${CACHE_MISS_FILE} (${held.standsS} s)`);
    throw new ArtifactNotFoundError(what, tried);
  }
  if (held) tried.push(`cache: ${held.refused}, not used`);

  // elfutils asks "http://h" and "http://h/" once: both are http://h/buildid.
  const bases = [
    ...new Map(
      (options.urls ?? (env.DEBUGINFOD_URLS ?? "").split(/\s+/))
        .filter(Boolean)
        .map((base) => [base.replace(/\/+$/, ""), base] as const),
    ).values(),
  ];
  log(`server urls "${bases.join(" ")}"`);
  if (bases.length === 0) throw new ArtifactNotFoundError(what, tried);
  log(`using timeout ${timeoutMs / 1000} s without progress, max time ${maxTimeMs / 1000} s, max size ${maxBytes} B`);
  const headersFile = env.DEBUGINFOD_HEADERS_FILE;
  const headers = {
    ...(headersFile ? readHeadersFile(headersFile, log) : {}),
    ...options.headers,
    "x-debuginfod-maxsize": String(maxBytes),
  };
  const path =
    artifact === "source"
      ? `/buildid/${id}/source${curlEscape(name)}`
      : `/buildid/${id}/${artifact}${name ? `/${curlEscape(name)}` : ""}`;
  const entry = await beginEntry(cachePath, id, entryName, staleS);
  try {
    const outcome = await askServers(entry, {
      bases,
      path,
      headers,
      timeoutMs,
      maxTimeMs,
      maxTimeName,
      maxBytes,
      retries,
      check,
      log,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    if ("size" in outcome) {
      await entry.commit(outcome.mtime);
      log(`got file from server: ${entryPath}`);
      return { path: entryPath, source: outcome.base, size: outcome.size, url: outcome.url, headers: outcome.headers };
    }
    for (const [base, refusal] of outcome.refusals) tried.push(`${base}: ${refusal.why}`);
    // Only when every server said it has no such file: a server that was down or failed says nothing of the next try.
    const missing = [...outcome.refusals.values()].filter((r) => r.missing).length;
    await entry.discard();
    if (missing === bases.length) recordMiss(cachePath, id, entryName);
    throw new ArtifactNotFoundError(what, tried, bases.length, bases.length - missing);
  } finally {
    await entry.discard();
  }
}
