/**
 * Asking debuginfod servers for one artifact and streaming the answer into a cache entry, within
 * three bounds: no progress for `timeoutMs` (to the headers, between body chunks) drops a server;
 * `maxTimeMs` (`DEBUGINFOD_MAXTIME`) from the first request ends the whole query; `maxBytes`
 * (`DEBUGINFOD_MAXSIZE`) of decoded body drops a server before the byte past it is written.
 * An answer is kept only if its wire length matches `Content-Length`, its decoded length matches
 * `X-DEBUGINFOD-SIZE`, and the caller's check (an ELF file's own build ID) passes.
 *
 * @packageDocumentation
 */
import type { CacheWriteError, PendingEntry } from "./client-cache.js";
import {
  get,
  type HttpResponse,
  type HttpTarget,
  isEncoded,
  type Received,
  receive,
  UnusableAnswer,
} from "./client-http.js";

/** How one server answered, for the not-found error and the decision to ask again. */
export interface Refusal {
  /** One line: `HTTP 404`, `no progress for 90000 ms`, `got 10 bytes, X-DEBUGINFOD-SIZE said 12`, … */
  why: string;
  /** The server said it has no such file (HTTP 404). */
  missing: boolean;
}

/** A download kept in the pending entry. */
export interface Delivered {
  /** The server base URL, as configured. */
  base: string;
  /** The URL that answered, after redirects. */
  url: string;
  /** Decoded bytes written. */
  size: number;
  /** The server's `Last-Modified`, if it sent one. */
  mtime?: Date;
  /** Its `X-DEBUGINFOD-*` headers, names in lowercase, as `debuginfod_get_headers` keeps them. */
  headers: Record<string, string>;
}

/** What {@link askServers} needs. */
export interface QueryOptions {
  /** Server base URLs, deduplicated. */
  bases: readonly string[];
  /** The request path below each base: `/buildid/ID/ARTIFACT[/NAME]`, escaped. */
  path: string;
  /** Request headers besides `Accept-Encoding`. */
  headers: Record<string, string>;
  /** Most time without progress from one server, in ms. */
  timeoutMs: number;
  /** Most time for the whole query, in ms. */
  maxTimeMs: number;
  /** What {@link maxTimeMs} is called in messages, e.g. "DEBUGINFOD_MAXTIME (5 s)". */
  maxTimeName: string;
  /** Most decoded bytes accepted. */
  maxBytes: number;
  /** Vets the finished temporary file (`fd`, `size`): undefined if good, else why not. */
  check(fd: number, size: number): string | undefined;
  /** Download progress of the server being read from. */
  onProgress?(received: number, total: number | undefined, url: string): void;
}

/** The outcome of {@link askServers}: a delivery, or each server's refusal in order. */
export type QueryOutcome = Delivered | { refusals: Map<string, Refusal> };

/** One server's request: its own abort, a no-progress timer, and the reason it was dropped. */
class Attempt {
  readonly controller = new AbortController();
  why: string | undefined;
  private timer: NodeJS.Timeout;
  constructor(
    readonly base: string,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => this.drop(`no progress for ${timeoutMs} ms`), timeoutMs);
  }
  /** Progress: the no-progress timer starts again. */
  touch(): void {
    this.timer.refresh();
  }
  /** Ends the request (body included) for `reason`, unless it already ended for another. */
  drop(reason: string): void {
    this.why ??= reason;
    this.controller.abort();
  }
  close(): void {
    clearTimeout(this.timer);
  }
}

function target(base: string, path: string): HttpTarget | string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return "not a URL";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `a ${url.protocol} URL, not http or https`;
  return { origin: url.origin, path: `${url.pathname.replace(/\/+$/, "")}${path}` };
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sizeHeader(res: HttpResponse, name: string): number | undefined {
  const v = header(res, name);
  return v !== undefined && /^[0-9]+$/.test(v.trim()) ? Number(v) : undefined;
}

class OverLimit extends Error {}

// Streams `res` into `entry`; a Delivered, or why not. A CacheWriteError is thrown: the cache, not the server, failed.
async function download(
  attempt: Attempt,
  res: HttpResponse,
  entry: PendingEntry,
  options: QueryOptions,
): Promise<Delivered | Refusal> {
  const refuse = (why: string): Refusal => ({ why, missing: false });
  const wireLength = isEncoded(res.headers) ? undefined : sizeHeader(res, "content-length");
  const declared = sizeHeader(res, "x-debuginfod-size") ?? wireLength;
  if (declared !== undefined && declared > options.maxBytes) {
    res.body.destroy();
    return refuse(`${declared} bytes, more than the limit of ${options.maxBytes}`);
  }
  const counts: Received = { wire: 0, decoded: 0 };
  await entry.restart();
  try {
    await receive(
      res,
      async (chunk) => {
        attempt.touch();
        if (counts.decoded > options.maxBytes) throw new OverLimit(`more than the limit of ${options.maxBytes} bytes`);
        await entry.append(chunk);
        options.onProgress?.(counts.decoded, declared, res.url);
      },
      counts,
    );
  } catch (error) {
    if (error instanceof OverLimit) {
      attempt.drop(error.message); // nothing past the bound is written
      return refuse(error.message);
    }
    if (error instanceof UnusableAnswer) return refuse(error.message);
    if ((error as CacheWriteError).name === "CacheWriteError") throw error;
    const cut =
      wireLength !== undefined ? ` after ${counts.wire} of ${wireLength} bytes` : ` after ${counts.wire} bytes`;
    return refuse(attempt.why ?? `${(error as Error).message}${cut}`);
  }
  const contentLength = sizeHeader(res, "content-length");
  if (contentLength !== undefined && counts.wire !== contentLength) {
    return refuse(`got ${counts.wire} bytes, Content-Length said ${contentLength}`);
  }
  const size = sizeHeader(res, "x-debuginfod-size");
  if (size !== undefined && counts.decoded !== size) {
    return refuse(`got ${counts.decoded} bytes, X-DEBUGINFOD-SIZE said ${size}`);
  }
  const wrong = options.check(entry.file.fd, counts.decoded);
  if (wrong !== undefined) return refuse(`sent a file ${wrong}`);
  const modified = Date.parse(header(res, "last-modified") ?? "");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (name.startsWith("x-debuginfod") && typeof value === "string") headers[name] = value;
  }
  return {
    base: attempt.base,
    url: res.url,
    size: counts.decoded,
    headers,
    ...(Number.isNaN(modified) ? {} : { mtime: new Date(modified) }),
  };
}

/**
 * Asks each server in `options.bases` in turn and streams the first good answer into `entry`
 * (not committed: the caller does that). Every server's request ends when the query does.
 * @throws CacheWriteError when the entry cannot be written.
 */
export async function askServers(entry: PendingEntry, options: QueryOptions): Promise<QueryOutcome> {
  const refusals = new Map<string, Refusal>();
  let overdue = false;
  let current: Attempt | undefined;
  const deadline = setTimeout(() => {
    overdue = true;
    current?.drop(`${options.maxTimeName} passed`);
  }, options.maxTimeMs);
  try {
    for (const base of options.bases) {
      if (overdue) {
        refusals.set(base, { why: `not asked: ${options.maxTimeName} passed`, missing: false });
        continue;
      }
      const to = target(base, options.path);
      if (typeof to === "string") {
        refusals.set(base, { why: to, missing: false });
        continue;
      }
      const attempt = new Attempt(base, options.timeoutMs);
      current = attempt;
      try {
        const res = await get(to, options.headers, attempt.controller.signal);
        attempt.touch();
        if (res.status !== 200) {
          res.body.destroy();
          refusals.set(base, { why: `HTTP ${res.status}`, missing: res.status === 404 });
          continue;
        }
        const got = await download(attempt, res, entry, options);
        if ("size" in got) return got;
        refusals.set(base, got);
      } catch (error) {
        if ((error as CacheWriteError).name === "CacheWriteError") throw error;
        refusals.set(base, { why: attempt.why ?? (error as Error).message, missing: false });
      } finally {
        attempt.drop("the query ended");
        attempt.close();
      }
    }
    return { refusals };
  } finally {
    clearTimeout(deadline);
  }
}
