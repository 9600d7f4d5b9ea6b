/**
 * The debuginfod client: a build ID's executable, debuginfo or one section, from the local index,
 * then the client cache elfutils' `debuginfod-find` shares, then the servers in `DEBUGINFOD_URLS`.
 * The cache entry's temporary file is made before any server is asked, so a cache that cannot be
 * written fails at once, naming its path; downloads stream into it within the bounds of
 * {@link askServers} and are checked before it is synced and renamed in.
 *
 * @packageDocumentation
 */
import { closeSync, readSync } from "node:fs";
import cliProgress from "cli-progress";
import { integer, oneOf } from "../../check.js";
import { ElfError } from "../../elf.js";
import { readBuildIdFromFileSync } from "../elf-file.js";
import { ARTIFACTS, type Artifact, openArtifact } from "./artifact.js";
import { isSectionName, isUrlBuildId } from "./build-id.js";
import type { BuildIdIndex } from "./build-id-index.js";
import {
  beginEntry,
  CACHE_MISS_FILE,
  cacheEntryName,
  cacheEntryPath,
  debuginfodCachePath,
  readEntry,
  recordMiss,
  STALE_TEMP_S,
} from "./client-cache.js";
import { askServers } from "./client-query.js";

export { CacheWriteError, cacheEntryPath, debuginfodCachePath } from "./client-cache.js";

/** Options for {@link findArtifact}. */
export interface FindOptions {
  /** The section name; required for `"section"`, refused otherwise. */
  section?: string;
  /** A local index, asked first. */
  index?: BuildIdIndex;
  /** Server base URLs; default `DEBUGINFOD_URLS` split on white space. */
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
  /** Show a progress bar on standard error, when it is a terminal, for downloads over 1 MiB. */
  progress?: boolean;
  /** Environment to read `DEBUGINFOD_*`, `XDG_CACHE_HOME` and `HOME` from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Where {@link findArtifact} found an artifact. */
export interface FoundArtifact {
  /** Path of the file holding it: an indexed file, or the cache entry. */
  path: string;
  /** `"index"`, `"cache"`, or the server URL it came from. */
  source: string;
  /** Its size in bytes. */
  size: number;
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
   */
  constructor(
    what: string,
    readonly tried: readonly string[],
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
/** Longest delay a timer takes (2^31 - 1 ms, about 24.8 days); longer settings from the environment are cut to it. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const PROGRESS_FROM = 1024 * 1024;
/** Bytes copied at a time from an indexed file into a cache entry. */
const COPY_CHUNK = 1024 * 1024;

// A whole non-negative number of the environment variable `name`, or undefined when unset, 0 or not a number (as elfutils' atol gives 0).
function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name]?.trim();
  return v && /^[0-9]+$/.test(v) && Number(v) > 0 ? Number(v) : undefined;
}

function envMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const s = envNumber(env, name);
  return s === undefined ? undefined : Math.min(s * 1000, MAX_TIMER_MS);
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

function bar(enabled: boolean): (received: number, total: number | undefined) => void {
  if (!enabled || !process.stderr.isTTY) return () => {};
  let shown: cliProgress.SingleBar | undefined;
  return (received, total) => {
    if (total === undefined || total < PROGRESS_FROM) return;
    if (!shown) {
      shown = new cliProgress.SingleBar(
        { stream: process.stderr, format: "downloading [{bar}] {value}/{total} bytes", clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      shown.start(total, 0);
    }
    shown.update(received);
    if (received >= total) shown.stop();
  };
}

/**
 * Finds the `artifact` of `buildId`: the local index first (its file, or for a section the bytes
 * copied into the cache), then the client cache, then the servers. A cache entry that is a
 * symbolic link, or whose folder is one, is never used nor written through. Before any server
 * is asked, a temporary file is made beside {@link cacheEntryPath} (after the ID folder's stale
 * temporary files are removed: ours, still writable, untouched for an hour or the no-progress
 * timeout if longer); what a server sends streams into it, bounded by `timeoutMs` without
 * progress, `maxTimeMs` in all and `maxBytes`, and is kept only if its length matches the
 * headers (`Content-Length` on the wire, `X-DEBUGINFOD-SIZE` decoded) and, for an executable or
 * debuginfo, its own build ID is `buildId`; it is then synced, made read-only (mode 0400, with the
 * server's `Last-Modified` as its mtime, as elfutils' client leaves it) and renamed into place.
 * Nothing else stays behind, on an error or at `process.exit` (the CLI's way out on SIGINT and
 * SIGTERM). When every server answers 404 the miss is recorded as an empty entry, as elfutils
 * records it, and no server is asked again until it is older than the cache's `cache_miss_s`
 * (default 600 s).
 * @throws TypeError or RangeError naming a bad argument; CacheWriteError (code `EROFS`, `EACCES`,
 *   `ENOSPC`, `ELOOP` for a linked ID folder, …) naming the path when the cache cannot be
 *   written; {@link ArtifactNotFoundError} when no source has it.
 */
export async function findArtifact(
  artifact: Artifact,
  buildId: string,
  options: FindOptions = {},
): Promise<FoundArtifact> {
  oneOf("artifact", artifact, ARTIFACTS);
  if (typeof buildId !== "string") throw new TypeError(`buildId must be a hex string, got ${typeof buildId}`);
  const id = buildId.toLowerCase();
  if (!isUrlBuildId(id)) throw new RangeError(`buildId must be hex of even length, got ${JSON.stringify(buildId)}`);
  const section = options.section ?? "";
  if (artifact === "section" ? !isSectionName(section) : options.section !== undefined) {
    throw new RangeError(
      artifact === "section"
        ? `section must be a section name, got ${JSON.stringify(options.section)}`
        : `section is only for the "section" artifact, got ${JSON.stringify(options.section)}`,
    );
  }
  const env = options.env ?? process.env;
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
  const cachePath = options.cachePath ?? debuginfodCachePath(env);
  const name = cacheEntryName(artifact, section);
  const entryPath = cacheEntryPath(cachePath, id, artifact, section);
  const staleS = Math.max(STALE_TEMP_S, timeoutMs / 1000);
  const what = artifact === "section" ? `section ${section} of ${id}` : `${artifact} of ${id}`;
  const tried: string[] = [];

  if (options.index) {
    const found = openArtifact(options.index, id, artifact, section);
    if ("fd" in found) {
      try {
        if (artifact !== "section") return { path: found.file.path, source: "index", size: found.length };
        await copyToEntry(cachePath, id, name, { from: found.file.path, ...found }, staleS);
        return { path: entryPath, source: "index", size: found.length };
      } finally {
        closeSync(found.fd);
      }
    }
    tried.push(found.changed ? `index: ${found.changed} file(s) changed since the scan` : "index: none");
  }

  const check = (fd: number, size: number): string | undefined =>
    artifact === "section" ? undefined : wrongId(fd, size, id);
  const held = readEntry(cachePath, id, name, check);
  if (held && "size" in held) return { path: entryPath, source: "cache", size: held.size };
  if (held && "missAgeS" in held) {
    tried.push(`cache: a miss recorded ${held.missAgeS} s ago, within ${CACHE_MISS_FILE} (${held.standsS} s)`);
    throw new ArtifactNotFoundError(what, tried);
  }
  if (held) tried.push(`cache: ${held.refused}, not used`);

  const bases = [...new Set((options.urls ?? (env.DEBUGINFOD_URLS ?? "").split(/\s+/)).filter(Boolean))];
  if (bases.length === 0) throw new ArtifactNotFoundError(what, tried);
  const entry = await beginEntry(cachePath, id, name, staleS);
  try {
    const outcome = await askServers(entry, {
      bases,
      path: `/buildid/${id}/${artifact}${artifact === "section" ? `/${encodeURIComponent(section)}` : ""}`,
      headers: { "X-DEBUGINFOD-MAXSIZE": String(maxBytes) },
      timeoutMs,
      maxTimeMs,
      maxTimeName,
      maxBytes,
      check,
      onProgress: bar(options.progress ?? false),
    });
    if ("size" in outcome) {
      await entry.commit(outcome.mtime);
      return { path: entryPath, source: outcome.base, size: outcome.size };
    }
    for (const [base, refusal] of outcome.refusals) tried.push(`${base}: ${refusal.why}`);
    // Only when every server said it has no such file: a server that was down or failed says nothing of the next try.
    const missing = [...outcome.refusals.values()].filter((r) => r.missing).length;
    await entry.discard();
    if (missing === bases.length) recordMiss(cachePath, id, name);
    throw new ArtifactNotFoundError(what, tried);
  } finally {
    await entry.discard();
  }
}
