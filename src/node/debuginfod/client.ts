/**
 * The debuginfod client: a build ID's executable, debuginfo or one section, from the local index,
 * then the client cache elfutils' `debuginfod-find` shares, then each server in `DEBUGINFOD_URLS`
 * in turn. Downloads stream into a temporary file beside their cache entry, bounded as they arrive,
 * and are checked (an ELF file's own build ID must be the one asked for; sizes must match the
 * headers) before it is synced and renamed in.
 *
 * @packageDocumentation
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, readSync, unlinkSync } from "node:fs";
import { type FileHandle, mkdir, open, rename, rmdir, unlink } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import cliProgress from "cli-progress";
import { integer, oneOf } from "../../check.js";
import { ElfError } from "../../elf.js";
import { readBuildIdFromFileSync } from "../elf-file.js";
import { openRegularSync, readRegularFileSync } from "../safe-open.js";
import { ARTIFACTS, type Artifact, openArtifact } from "./artifact.js";
import { isSectionName, isUrlBuildId } from "./build-id.js";
import type { BuildIdIndex } from "./build-id-index.js";

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
  /** Largest download accepted, in bytes. Default `DEBUGINFOD_MAXSIZE`, else 4 GiB. */
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
const DEFAULT_MAX_BYTES = 4 * 1024 ** 3;
const PROGRESS_FROM = 1024 * 1024;
/** Bytes copied at a time from an indexed file into a cache entry. */
const COPY_CHUNK = 1024 * 1024;
/** Mode of a finished cache entry, as elfutils' client leaves it (PR27571: "casually unwriteable"). */
const ENTRY_MODE = 0o400;
/** How long an empty entry (a recorded miss) stands, unless the cache's `cache_miss_s` file says otherwise: elfutils' default. */
const CACHE_MISS_DEFAULT_S = 600;
/** The file in the cache directory holding that time in seconds, as elfutils names it. */
const CACHE_MISS_FILE = "cache_miss_s";

/**
 * The client cache directory, as elfutils' client picks it: `$DEBUGINFOD_CACHE_PATH`; else
 * `$HOME/.debuginfod_client_cache` when it exists; else `$XDG_CACHE_HOME/debuginfod_client`
 * or `$HOME/.cache/debuginfod_client`.
 */
export function debuginfodCachePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DEBUGINFOD_CACHE_PATH) return env.DEBUGINFOD_CACHE_PATH;
  const home = env.HOME || homedir() || "/";
  const legacy = join(home, ".debuginfod_client_cache");
  if (existsSync(legacy)) return legacy;
  return join(env.XDG_CACHE_HOME || join(home, ".cache"), "debuginfod_client");
}

/** elfutils' escape of a section name in a cache file name: `/` to `##`, `#` to `#_`. */
function escapeName(name: string): string {
  return name.replace(/#/g, "#_").replace(/\//g, "##");
}

/** The cache file of an artifact: `CACHE/ID/executable`, `CACHE/ID/debuginfo` or `CACHE/ID/section-NAME`. */
export function cacheEntryPath(cachePath: string, buildId: string, artifact: Artifact, section = ""): string {
  return join(cachePath, buildId, artifact === "section" ? `section-${escapeName(section)}` : artifact);
}

function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  return v && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}

// The open file's own build ID equals `id` (exact, lowercase hex).
function carriesId(fd: number, size: number, id: string): boolean {
  try {
    return readBuildIdFromFileSync(fd, { size }).buildId === id;
  } catch (error) {
    if (error instanceof ElfError) return false;
    throw error;
  }
}

/** Seconds a recorded miss stands: the cache's `cache_miss_s` (a decimal number, as elfutils writes it), else 600. */
function cacheMissSeconds(cachePath: string): number {
  try {
    const text = new TextDecoder().decode(
      readRegularFileSync(join(cachePath, CACHE_MISS_FILE), { maxBytes: 64 }).bytes,
    );
    return /^\s*[0-9]+\s*$/.test(text) ? Number(text) : CACHE_MISS_DEFAULT_S;
  } catch {
    return CACHE_MISS_DEFAULT_S;
  }
}

/**
 * The cache entry at `path`: its size, `{ ageS, standsS }` for an empty file (elfutils' record of
 * a miss) younger than the cache's `cache_miss_s` (`standsS`), or undefined. An older record is removed, as
 * elfutils removes it, so the servers are asked again.
 */
function cached(
  path: string,
  cachePath: string,
  id: string,
  artifact: Artifact,
): number | { ageS: number; standsS: number } | undefined {
  let opened: ReturnType<typeof openRegularSync>;
  try {
    opened = openRegularSync(path);
  } catch (error) {
    // A record of a miss from old clients, mode 000: elfutils removes it too.
    if ((error as NodeJS.ErrnoException).code === "EACCES") unlinkQuietly(path);
    return undefined;
  }
  const { fd, stat } = opened;
  try {
    if (stat.size === 0n) {
      const ageS = Math.max(0, Math.floor(Date.now() / 1000) - Number(stat.mtimeMs / 1000n));
      const standsS = cacheMissSeconds(cachePath);
      if (ageS <= standsS) return { ageS, standsS };
      unlinkQuietly(path);
      return undefined;
    }
    if (artifact !== "section" && readBuildIdFromFileSync(fd, { size: Number(stat.size) }).buildId !== id) {
      return undefined;
    }
    return Number(stat.size);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Another client removed or replaced it first: either way it is not ours to keep.
  }
}

/** Records that no server has the entry at `path`: an empty file, as elfutils' client leaves one; best effort. */
async function recordMiss(path: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await (await open(path, "wx", 0o666)).close();
  } catch {
    // Already recorded by another client, or the cache is not writable: the next call asks again.
  }
}

/** A cache entry being written: a new file beside it (`PATH.` and random hex, as elfutils' `PATH.XXXXXX`). */
interface PendingEntry {
  file: FileHandle;
  /** Syncs it, makes it read-only, gives it `mtime` if known, and renames it into place. */
  commit(mtime?: Date): Promise<void>;
  /** Removes it, and the build ID's folder if that is left empty; nothing stays behind. */
  discard(): Promise<void>;
}

async function pendingEntry(path: string): Promise<PendingEntry> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(6).toString("hex")}`;
  const file = await open(temp, "wx+", 0o600); // read back for the build-ID check
  let closed = false;
  const close = async (): Promise<void> => {
    if (!closed) await file.close();
    closed = true;
  };
  return {
    file,
    async commit(mtime) {
      await file.sync();
      await file.chmod(ENTRY_MODE);
      if (mtime) await file.utimes((await file.stat()).atime, mtime);
      await close();
      await rename(temp, path);
    },
    async discard() {
      await close().catch(() => {});
      await unlink(temp).catch(() => {});
      await rmdir(dir).catch(() => {}); // fails while other entries are in it, as elfutils' does
    },
  };
}

// Copies `length` bytes at `start` of `fd` (the indexed file `from`) into a new cache entry at `path`, a chunk at a time.
async function copyToEntry(path: string, from: string, fd: number, start: number, length: number): Promise<void> {
  const entry = await pendingEntry(path);
  try {
    const chunk = new Uint8Array(Math.min(COPY_CHUNK, length));
    for (let at = 0; at < length; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, length - at), start + at);
      if (n === 0) throw new Error(`${from} ended ${length - at} bytes early: it shrank since it was opened`);
      await entry.file.write(chunk, 0, n);
      at += n;
    }
    await entry.commit();
  } catch (error) {
    await entry.discard();
    throw error;
  }
}

function bar(enabled: boolean, total: number): { update(n: number): void; stop(): void } {
  if (!enabled || !process.stderr.isTTY || total < PROGRESS_FROM) return { update() {}, stop() {} };
  const b = new cliProgress.SingleBar(
    { stream: process.stderr, format: "downloading [{bar}] {value}/{total} bytes", clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  b.start(total, 0);
  return { update: (n) => b.update(n), stop: () => b.stop() };
}

/** Why a server did not deliver: a line for the not-found error, and whether it said it has no such file (HTTP 404). */
interface Refusal {
  why: string;
  missing: boolean;
}

// Downloads one URL into the cache entry at `path`; returns its size, or why not (and then leaves nothing behind).
async function download(
  url: string,
  path: string,
  id: string | undefined,
  timeoutMs: number,
  maxBytes: number,
  progress: boolean,
): Promise<number | Refusal> {
  const refuse = (why: string): Refusal => ({ why, missing: false });
  const abort = new AbortController();
  let why: string | undefined; // set when we drop the connection ourselves
  const drop = (reason: string): void => {
    why = reason;
    abort.abort();
  };
  const stall = (): void => drop(`no progress for ${timeoutMs} ms`);
  let timer = setTimeout(stall, timeoutMs);
  const touch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(stall, timeoutMs);
  };
  let entry: PendingEntry | undefined;
  try {
    const response = await fetch(url, { signal: abort.signal, headers: { "X-DEBUGINFOD-MAXSIZE": String(maxBytes) } });
    if (response.status !== 200) {
      await response.body?.cancel();
      return { why: `HTTP ${response.status}`, missing: response.status === 404 };
    }
    const declared = response.headers.get("content-length");
    const size = response.headers.get("x-debuginfod-size");
    const expected = declared !== null ? Number(declared) : size !== null ? Number(size) : undefined;
    if (expected !== undefined && expected > maxBytes) {
      await response.body?.cancel();
      return refuse(`${expected} bytes, more than the limit of ${maxBytes}`);
    }
    entry = await pendingEntry(path);
    let got = 0;
    const shown = bar(progress, expected ?? 0);
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        touch();
        if (got + chunk.length > maxBytes) {
          const over = `more than the limit of ${maxBytes} bytes`;
          drop(over); // nothing past the bound is written
          return refuse(over);
        }
        await entry.file.write(chunk);
        got += chunk.length;
        shown.update(got);
      }
    } finally {
      shown.stop();
    }
    if (expected !== undefined && got !== expected) return refuse(`got ${got} bytes, headers said ${expected}`);
    if (size !== null && Number(size) !== got) return refuse(`got ${got} bytes, X-DEBUGINFOD-SIZE said ${size}`);
    if (id !== undefined && !carriesId(entry.file.fd, got, id))
      return refuse(`sent a file whose build ID is not ${id}`);
    const modified = Date.parse(response.headers.get("last-modified") ?? "");
    await entry.commit(Number.isNaN(modified) ? undefined : new Date(modified));
    entry = undefined;
    return got;
  } catch (error) {
    return refuse(why ?? (error as Error).message);
  } finally {
    clearTimeout(timer);
    await entry?.discard();
  }
}

/**
 * Finds the `artifact` of `buildId`: the local index first (its file, or for a section the bytes
 * copied into the cache), then the client cache, then each server in turn. What a server sends is
 * streamed into a temporary file beside {@link cacheEntryPath} (never past `maxBytes`), kept only if
 * its size matches the headers and, for an executable or debuginfo, its own build ID is `buildId`,
 * then synced, made read-only (mode 0400, with the server's `Last-Modified` as its mtime, as
 * elfutils' client leaves it) and renamed into place; a download that fails leaves nothing behind.
 * When every server answers 404 the miss is recorded as an empty entry, as elfutils records it,
 * and no server is asked again until it is older than the cache's `cache_miss_s` (default 600 s).
 * @throws TypeError or RangeError naming a bad argument; {@link ArtifactNotFoundError} when no source has it.
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
    options.timeoutMs ?? (envNumber(env, "DEBUGINFOD_TIMEOUT") ?? DEFAULT_TIMEOUT_S) * 1000,
    1,
  );
  const maxBytes = integer(
    "maxBytes",
    options.maxBytes ?? envNumber(env, "DEBUGINFOD_MAXSIZE") ?? DEFAULT_MAX_BYTES,
    1,
  );
  const cachePath = options.cachePath ?? debuginfodCachePath(env);
  const entry = cacheEntryPath(cachePath, id, artifact, section);
  const what = artifact === "section" ? `section ${section} of ${id}` : `${artifact} of ${id}`;
  const tried: string[] = [];

  if (options.index) {
    const found = openArtifact(options.index, id, artifact, section);
    if ("fd" in found) {
      try {
        if (artifact !== "section") return { path: found.file.path, source: "index", size: found.length };
        await copyToEntry(entry, found.file.path, found.fd, found.start, found.length);
        return { path: entry, source: "index", size: found.length };
      } finally {
        closeSync(found.fd);
      }
    }
    tried.push(found.changed ? `index: ${found.changed} file(s) changed since the scan` : "index: none");
  }

  const size = cached(entry, cachePath, id, artifact);
  if (typeof size === "number") return { path: entry, source: "cache", size };
  if (size !== undefined) {
    tried.push(`cache: a miss recorded ${size.ageS} s ago, within ${CACHE_MISS_FILE} (${size.standsS} s)`);
    throw new ArtifactNotFoundError(what, tried);
  }

  const urls = options.urls ?? (env.DEBUGINFOD_URLS ?? "").split(/\s+/).filter(Boolean);
  let missing = 0;
  for (const base of urls) {
    const url = `${base.replace(/\/+$/, "")}/buildid/${id}/${artifact}${artifact === "section" ? `/${encodeURIComponent(section)}` : ""}`;
    const checkId = artifact === "section" ? undefined : id;
    const got = await download(url, entry, checkId, timeoutMs, maxBytes, options.progress ?? false);
    if (typeof got === "number") return { path: entry, source: base, size: got };
    tried.push(`${base}: ${got.why}`);
    if (got.missing) missing++;
  }
  // Only when every server said it has no such file: a server that was down or failed says nothing of the next try.
  if (urls.length > 0 && missing === urls.length) await recordMiss(entry);
  throw new ArtifactNotFoundError(what, tried);
}
