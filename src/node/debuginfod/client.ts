/**
 * The debuginfod client: a build ID's executable, debuginfo or one section, from the local index,
 * then the client cache elfutils' `debuginfod-find` shares, then each server in `DEBUGINFOD_URLS`
 * in turn. Downloads are checked (an ELF file's own build ID must be the one asked for; sizes must
 * match the headers) before they are written, atomically, into that cache.
 *
 * @packageDocumentation
 */
import { closeSync, existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import cliProgress from "cli-progress";
import { integer, oneOf } from "../../check.js";
import { ElfError, readBuildId } from "../../elf.js";
import { readBuildIdFromFileSync } from "../elf-file.js";
import { openRegularSync } from "../safe-open.js";
import { saveSnapshotAtomic } from "../snapshot-file.js";
import { ARTIFACTS, type Artifact, openArtifact } from "./artifact.js";
import { isSectionName, isUrlBuildId } from "./build-id.js";
import type { BuildIdIndex } from "./build-id-index.js";
import { fdReader } from "./reads.js";

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

// The file's own build ID equals `id` (exact, lowercase hex).
function carriesId(bytes: Uint8Array, id: string): boolean {
  try {
    return readBuildId(bytes).buildId === id;
  } catch (error) {
    if (error instanceof ElfError) return false;
    throw error;
  }
}

function cached(path: string, id: string, artifact: Artifact): number | undefined {
  let opened: ReturnType<typeof openRegularSync>;
  try {
    opened = openRegularSync(path);
  } catch {
    return undefined;
  }
  const { fd, stat } = opened;
  try {
    if (stat.size === 0n) return undefined; // elfutils' negative-cache marker
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

async function store(path: string, bytes: Uint8Array): Promise<void> {
  mkdirSync(join(path, ".."), { recursive: true, mode: 0o700 });
  await saveSnapshotAtomic(path, bytes);
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

// Downloads one URL; returns the body, or a line saying why not.
async function download(
  url: string,
  timeoutMs: number,
  maxBytes: number,
  progress: boolean,
): Promise<Uint8Array | string> {
  const abort = new AbortController();
  let timer = setTimeout(() => abort.abort(), timeoutMs);
  const touch = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => abort.abort(), timeoutMs);
  };
  try {
    const response = await fetch(url, { signal: abort.signal, headers: { "X-DEBUGINFOD-MAXSIZE": String(maxBytes) } });
    if (response.status !== 200) {
      await response.body?.cancel();
      return `HTTP ${response.status}`;
    }
    const declared = response.headers.get("content-length");
    const size = response.headers.get("x-debuginfod-size");
    const expected = declared !== null ? Number(declared) : size !== null ? Number(size) : undefined;
    if (expected !== undefined && expected > maxBytes) {
      await response.body?.cancel();
      return `${expected} bytes, more than the limit of ${maxBytes}`;
    }
    const chunks: Uint8Array[] = [];
    let got = 0;
    const shown = bar(progress, expected ?? 0);
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        touch();
        got += chunk.length;
        if (got > maxBytes) {
          abort.abort();
          return `more than the limit of ${maxBytes} bytes`;
        }
        chunks.push(chunk);
        shown.update(got);
      }
    } finally {
      shown.stop();
    }
    if (expected !== undefined && got !== expected) return `got ${got} bytes, headers said ${expected}`;
    if (size !== null && Number(size) !== got) return `got ${got} bytes, X-DEBUGINFOD-SIZE said ${size}`;
    const body = new Uint8Array(got);
    let at = 0;
    for (const c of chunks) {
      body.set(c, at);
      at += c.length;
    }
    return body;
  } catch (error) {
    return abort.signal.aborted ? `no progress for ${timeoutMs} ms` : (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Finds the `artifact` of `buildId`: the local index first (its file, or for a section the bytes
 * copied into the cache), then the client cache, then each server in turn. What a server sends is
 * kept only if its size matches the headers and, for an executable or debuginfo, its own build ID
 * is `buildId`; it is then written atomically to {@link cacheEntryPath}.
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
        await store(entry, fdReader(found.fd)(found.start, found.length));
        return { path: entry, source: "index", size: found.length };
      } finally {
        closeSync(found.fd);
      }
    }
    tried.push(found.changed ? `index: ${found.changed} file(s) changed since the scan` : "index: none");
  }

  const size = cached(entry, id, artifact);
  if (size !== undefined) return { path: entry, source: "cache", size };

  const urls = options.urls ?? (env.DEBUGINFOD_URLS ?? "").split(/\s+/).filter(Boolean);
  for (const base of urls) {
    const url = `${base.replace(/\/+$/, "")}/buildid/${id}/${artifact}${artifact === "section" ? `/${encodeURIComponent(section)}` : ""}`;
    const body = await download(url, timeoutMs, maxBytes, options.progress ?? false);
    if (typeof body === "string") {
      tried.push(`${base}: ${body}`);
      continue;
    }
    if (artifact !== "section" && !carriesId(body, id)) {
      tried.push(`${base}: sent a file whose build ID is not ${id}`);
      continue;
    }
    await store(entry, body);
    return { path: entry, source: base, size: body.length };
  }
  throw new ArtifactNotFoundError(what, tried);
}
